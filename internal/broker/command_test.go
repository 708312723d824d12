package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// nextStep returns the next step of a SendToClient delivery.
func nextStep(t *testing.T, ch <-chan broker.DeliveryResult) broker.DeliveryResult {
	t.Helper()
	select {
	case r, ok := <-ch:
		require.True(t, ok, "result channel closed")
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery step within 10s")
		return broker.DeliveryResult{}
	}
}

func TestSendToClient_ackedOnlyAfterPuback(t *testing.T) {
	for _, qos := range []byte{1, 2} {
		t.Run(string('0'+rune(qos)), func(t *testing.T) {
			s, addr := testutil.StartBroker(t, nil)
			rc, _ := connectRaw(t, addr, "lock-1", nil)
			m := &msg.Message{Topic: "devices/lock-1/command", Payload: []byte(`{"action":"unlock"}`), QoS: qos, Origin: msg.Origin{Kind: msg.OriginAPI}}
			out, ch, err := s.SendToClient(context.Background(), "lock-1", m)
			require.NoError(t, err)
			require.Equal(t, broker.OutcomeSent, out)

			p := rc.readPublish()
			require.Equal(t, m.Topic, p.Topic)
			require.Equal(t, broker.StatusDelivered, nextStep(t, ch).Status)
			select {
			case r := <-ch:
				t.Fatalf("step %v before the client acknowledged", r.Status)
			default:
			}
			if qos == 1 {
				rc.ack(packet.TypePuback, p.PacketID)
			} else {
				rc.ack(packet.TypePubrec, p.PacketID)
				_, ok := rc.read().(*packet.Ack) // PUBREL
				require.True(t, ok)
				select {
				case r := <-ch:
					t.Fatalf("step %v after PUBREC, before PUBCOMP", r.Status)
				default:
				}
				rc.ack(packet.TypePubcomp, p.PacketID)
			}
			require.Equal(t, broker.StatusAcked, nextStep(t, ch).Status)
			_, open := <-ch
			require.False(t, open, "channel closed after acked")
		})
	}
}

// persistentV5 asks for a session kept for an hour.
func persistentV5(cp *paho.Connect) {
	cp.CleanStart = false
	exp := uint32(3600)
	cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &exp}
}

// queuedCommand leaves a persistent session for id offline and sends it a
// QoS 1 command, which is queued; it returns the command's steps.
func queuedCommand(t *testing.T, s *broker.Server, addr, id string) <-chan broker.DeliveryResult {
	t.Helper()
	dev := connectV5(t, addr, id, persistentV5)
	require.NoError(t, dev.Disconnect(&paho.Disconnect{ReasonCode: 0}))
	testutil.Eventually(t, 5*time.Second, func() bool {
		ci, ok := s.Client(id)
		return ok && !ci.Connected
	}, "session offline")
	out, ch, err := s.SendToClient(context.Background(), id, &msg.Message{Topic: "devices/" + id + "/command", Payload: []byte("x"), QoS: 1})
	require.NoError(t, err)
	require.Equal(t, broker.OutcomeQueued, out)
	return ch
}

func TestSendToClient_queuedThenDeliveredOnReconnect(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	ch := queuedCommand(t, s, addr, "lock-2")

	dev := connectV5(t, addr, "lock-2", persistentV5)
	p := dev.next(t)
	require.Equal(t, "devices/lock-2/command", p.Topic)
	require.Equal(t, broker.StatusDelivered, nextStep(t, ch).Status)
	require.Equal(t, broker.StatusAcked, nextStep(t, ch).Status)
}

func TestSendToClient_outcomes(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	out, ch, err := s.SendToClient(context.Background(), "nobody", &msg.Message{Topic: "a/b", QoS: 1})
	require.NoError(t, err)
	require.Equal(t, broker.OutcomeNoSession, out)
	require.Nil(t, ch)

	_, _, err = s.SendToClient(context.Background(), "nobody", &msg.Message{Topic: "a/#", QoS: 1})
	require.Error(t, err, "wildcard topic")

	connectV5(t, addr, "qos0", nil)
	out, ch, err = s.SendToClient(context.Background(), "qos0", &msg.Message{Topic: "a/b", QoS: 0})
	require.NoError(t, err)
	require.Equal(t, broker.OutcomeSent, out)
	require.Equal(t, broker.StatusDelivered, nextStep(t, ch).Status)
}

func TestKick_administrativeAction(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	dev := connectV5(t, addr, "kick-me", nil)
	require.ErrorIs(t, s.Kick("nobody"), broker.ErrNoSession)
	require.NoError(t, s.Kick("kick-me"))
	select {
	case d := <-dev.discs:
		require.Equal(t, byte(packet.AdministrativeAction), d.ReasonCode)
	case <-time.After(10 * time.Second):
		t.Fatal("no DISCONNECT within 10s")
	}
}

func TestAwaitReply(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	dev := connectV5(t, addr, "thermo", nil)
	replies, cancel := s.AwaitReply("devices/thermo/reply", []byte("req-1"))
	defer cancel()
	// A reply with another correlation is not the one awaited.
	dev.publish(t, &paho.Publish{Topic: "devices/thermo/reply", QoS: 1, Payload: []byte("other"),
		Properties: &paho.PublishProperties{CorrelationData: []byte("req-0")}})
	dev.publish(t, &paho.Publish{Topic: "devices/thermo/reply", QoS: 1, Payload: []byte("21.5"),
		Properties: &paho.PublishProperties{CorrelationData: []byte("req-1"), ContentType: "text/plain"}})
	select {
	case m := <-replies:
		require.Equal(t, "21.5", string(m.Payload))
		require.Equal(t, "text/plain", m.ContentType)
	case <-time.After(10 * time.Second):
		t.Fatal("no reply within 10s")
	}
}

func TestInspect_clientsSubscriptionsRetained(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	for _, id := range []string{"a-1", "a-2", "b-1"} {
		connectV5(t, addr, id, nil)
	}
	page, more := s.Clients(broker.ClientQuery{IDPrefix: "a-", Limit: 1})
	require.True(t, more)
	require.Len(t, page, 1)
	require.Equal(t, "a-1", page[0].ClientID)
	require.True(t, page[0].Connected)
	require.Equal(t, "5.0", page[0].ProtocolVersion)
	page, more = s.Clients(broker.ClientQuery{IDPrefix: "a-", After: "a-1", Limit: 1})
	require.False(t, more)
	require.Equal(t, "a-2", page[0].ClientID)

	_, err := s.SubscribeClient("a-1", "x/#", broker.SubscribeOptions{QoS: 1})
	require.NoError(t, err)
	_, err = s.SubscribeClient("a-1", "x/#/y", broker.SubscribeOptions{})
	require.ErrorIs(t, err, broker.ErrBadFilter)
	_, err = s.SubscribeClient("zz", "x", broker.SubscribeOptions{})
	require.ErrorIs(t, err, broker.ErrNoSession)
	subs, _ := s.Subscriptions(broker.SubscriptionQuery{Topic: "x/1", Limit: 10})
	require.Equal(t, []broker.SubscriptionInfo{{ClientID: "a-1", Filter: "x/#", QoS: 1}}, subs)
	ci, ok := s.Client("a-1")
	require.True(t, ok)
	require.Len(t, ci.Subscriptions, 1)
	require.NoError(t, s.UnsubscribeClient("a-1", "x/#"))
	require.ErrorIs(t, s.UnsubscribeClient("a-1", "x/#"), broker.ErrNoSubscription)

	_, err = s.Publish(context.Background(), &msg.Message{Topic: "r/1", Payload: []byte("1"), Retain: true})
	require.NoError(t, err)
	rs, more, err := s.RetainedMessages(broker.RetainedQuery{Filter: "r/+", Limit: 10})
	require.NoError(t, err)
	require.False(t, more)
	require.Len(t, rs, 1)
	require.True(t, s.DeleteRetained("r/1"))
	_, ok = s.Retained("r/1")
	require.False(t, ok)
}

// A queued command whose session is discarded (the device comes back with
// Clean Start) is answered dropped, session_ended, at once, and counted.
func TestSendToClient_sessionDiscardedAnswersDropped(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	ch := queuedCommand(t, s, addr, "lock-3")

	connectV5(t, addr, "lock-3", nil) // Clean Start: the old session and its queue go
	step := nextStep(t, ch)
	require.Equal(t, broker.StatusDropped, step.Status)
	require.Equal(t, "session_ended", step.Reason)
	require.Equal(t, uint64(1), s.Stats().Dropped["session_ended"])
}
