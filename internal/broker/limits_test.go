package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

func TestLimits_maxQueuedMessages(t *testing.T) {
	tests := []struct {
		policy broker.QueueFullPolicy
		want   []string
		// code is the PUBACK reason code of the messages over the limit:
		// with drop_new nobody took them (Quota exceeded).
		code byte
	}{
		{broker.DropOldest, []string{"2", "3", "4"}, byte(packet.Success)},
		{broker.DropNew, []string{"0", "1", "2"}, byte(packet.QuotaExceeded)},
	}
	for _, tc := range tests {
		t.Run(string(tc.policy), func(t *testing.T) {
			s, addr := testutil.StartBroker(t, func(o *broker.Options) {
				o.MaxQueuedMessages = 3
				o.QueueFullPolicy = tc.policy
			})
			ev := recordEvents(t, s)
			offlineSubscriber(t, ev, addr, "dev", "q", nil)

			pub := connectV5(t, addr, "pub", nil)
			for i := range 5 {
				want := byte(packet.Success)
				if i >= 3 {
					want = tc.code
				}
				require.Equal(t, want, pub.publishCode(t, &paho.Publish{Topic: "q", QoS: 1, Payload: []byte(fmt.Sprint(i))}), "message %d", i)
			}
			require.Equal(t, uint64(2), s.Stats().Dropped["queue_full"])
			require.Equal(t, int64(3), s.Stats().Queued)
			for range 2 {
				require.Equal(t, "queue_full", ev.wait(t, msg.EventDeliveryDropped, "dev").Reason)
			}

			back := connectV5(t, addr, "dev", expiryV5(300, false))
			back.subscribe(t, paho.SubscribeOptions{Topic: "m", QoS: 1})
			var got []string
			for _, p := range drain(t, withMarker(t, pub, back)) {
				got = append(got, string(p.Payload))
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// withMarker publishes the marker on "m" and returns c, for drain.
func withMarker(t *testing.T, pub, c *v5Client) *v5Client {
	t.Helper()
	pub.publish(t, &paho.Publish{Topic: "m", QoS: 1, Payload: []byte("marker")})
	return c
}

func TestLimits_maxSubscriptionsPerClient(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.MaxSubscriptionsPerClient = 2 })
	c := connectV5(t, addr, "c", nil)
	sa, err := c.Subscribe(t.Context(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "a", QoS: 1}, {Topic: "b", QoS: 2}, {Topic: "c", QoS: 0},
	}})
	require.Error(t, err, "paho reports the failed filter")
	require.Equal(t, []byte{1, 2, byte(packet.QuotaExceeded)}, sa.Reasons)
	sa = c.subscribe(t, paho.SubscribeOptions{Topic: "a", QoS: 0})
	require.Equal(t, []byte{0}, sa.Reasons, "replacing an existing subscription is not a new one")
	require.Equal(t, int64(2), s.Stats().Subscriptions)

	rc, _ := connectRaw(t, addr, "c3", func(cp *packet.Connect) { cp.Version = packet.V311 })
	sa3 := rc.subscribe(1, packet.Subscription{Filter: "a"}, packet.Subscription{Filter: "b"}, packet.Subscription{Filter: "c"})
	require.Equal(t, []packet.ReasonCode{0, 0, packet.V311SubackFailure}, sa3.ReasonCodes)
}

func TestLimits_maxConnections(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.MaxConnections = 2 })
	first := connectV5(t, addr, "one", nil)
	connectV5(t, addr, "two", nil)

	rc := dialRaw(t, addr, packet.V5)
	rc.send(&packet.Connect{Version: packet.V5, ClientID: "three", CleanStart: true})
	ack, ok := rc.read().(*packet.Connack)
	require.True(t, ok)
	require.Equal(t, packet.ServerBusy, ack.ReasonCode)
	require.Nil(t, rc.closed())

	rc3 := dialRaw(t, addr, packet.V311)
	rc3.send(&packet.Connect{Version: packet.V311, ClientID: "three", CleanStart: true})
	ack, ok = rc3.read().(*packet.Connack)
	require.True(t, ok)
	require.Equal(t, packet.V311ServerUnavailable, ack.ReasonCode)

	require.NoError(t, first.Disconnect(&paho.Disconnect{}))
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Connections == 1 }, "a slot is free")
	connectV5(t, addr, "three", nil)
}
