package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

func expiryV5(secs uint32, cleanStart bool) func(*paho.Connect) {
	return func(cp *paho.Connect) {
		cp.CleanStart = cleanStart
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &secs}
	}
}

func TestSession_persistentQueuesWhileOffline(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	ev := recordEvents(t, s)
	pub := connectV5(t, addr, "pub", nil)
	dev := connectV5(t, addr, "dev", expiryV5(300, true))
	dev.subscribe(t, paho.SubscribeOptions{Topic: "cmd/#", QoS: 1})
	require.NoError(t, dev.Disconnect(&paho.Disconnect{}))
	ev.wait(t, msg.EventClientDisconnected, "dev")

	for i := range 3 {
		pub.publish(t, &paho.Publish{Topic: "cmd/x", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	pub.publish(t, &paho.Publish{Topic: "cmd/x", QoS: 0, Payload: []byte("qos0")})
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Dropped["qos0_offline"] == 1 }, "QoS 0 is not queued for an offline session")
	require.Equal(t, int64(3), s.Stats().Queued)

	dev2 := connectV5(t, addr, "dev", expiryV5(300, false))
	require.True(t, dev2.connack.SessionPresent)
	for i := range 3 {
		got := dev2.next(t)
		require.Equal(t, fmt.Sprint(i), string(got.Payload), "queued messages arrive in order")
		require.Equal(t, byte(1), got.QoS)
	}
	pub.publish(t, &paho.Publish{Topic: "cmd/y", QoS: 1, Payload: []byte("live")})
	require.Equal(t, "live", string(dev2.next(t).Payload), "the subscription survived")
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Queued == 0 && s.Stats().Inflight == 0 }, "queue and window drained")
}

func TestSession_cleanStartDiscards(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	ev := recordEvents(t, s)
	pub := connectV5(t, addr, "pub", nil)
	dev := connectV5(t, addr, "dev", expiryV5(300, true))
	dev.subscribe(t, paho.SubscribeOptions{Topic: "cmd/#", QoS: 1})
	require.NoError(t, dev.Disconnect(&paho.Disconnect{}))
	ev.wait(t, msg.EventClientDisconnected, "dev")
	pub.publish(t, &paho.Publish{Topic: "cmd/x", QoS: 1, Payload: []byte("queued")})

	dev2 := connectV5(t, addr, "dev", expiryV5(300, true))
	require.False(t, dev2.connack.SessionPresent)
	require.Equal(t, int64(0), s.Stats().Queued, "queued messages are discarded")
	dev2.subscribe(t, paho.SubscribeOptions{Topic: "m", QoS: 1})
	pub.publish(t, &paho.Publish{Topic: "cmd/x", QoS: 1, Payload: []byte("after")})
	marker(t, pub, dev2, "m") // neither the queued message nor the old subscription
}

func TestSession_expiry(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClock()
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.Clock = clock })
	dev := connectV5(t, addr, "dev", expiryV5(1, true))
	dev.subscribe(t, paho.SubscribeOptions{Topic: "a", QoS: 1})
	require.NoError(t, dev.Disconnect(&paho.Disconnect{}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, clock.BlockUntilContext(ctx, 1), "the session's expiry timer is armed")
	clock.Advance(999 * time.Millisecond)
	require.Equal(t, int64(1), s.Stats().Sessions, "kept for its expiry interval")
	clock.Advance(time.Millisecond)
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Sessions == 0 }, "session expired")
	require.Equal(t, int64(0), s.Stats().Subscriptions)
	dev2 := connectV5(t, addr, "dev", expiryV5(1, false))
	require.False(t, dev2.connack.SessionPresent)
}

func TestSession_disconnectSetsExpiryZero(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	ev := recordEvents(t, s)
	dev := connectV5(t, addr, "dev", expiryV5(300, true))
	dev.subscribe(t, paho.SubscribeOptions{Topic: "a", QoS: 1})
	zero := uint32(0)
	require.NoError(t, dev.Disconnect(&paho.Disconnect{Properties: &paho.DisconnectProperties{SessionExpiryInterval: &zero}}))
	ev.wait(t, msg.EventClientDisconnected, "dev")
	require.Equal(t, int64(0), s.Stats().Sessions, "DISCONNECT with Session Expiry 0 ends the session now")
	dev2 := connectV5(t, addr, "dev", expiryV5(300, false))
	require.False(t, dev2.connack.SessionPresent)
}

func TestSession_disconnectCannotSetExpiryFromZero(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	rc, _ := connectRaw(t, addr, "dev", nil)
	rc.send(&packet.Disconnect{Properties: packet.Properties{SessionExpiry: 60, HasSessionExpiry: true}})
	d := rc.closed()
	require.NotNil(t, d, "MQTT-3.14.2-2: protocol error")
	require.Equal(t, packet.ProtocolError, d.ReasonCode)
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Sessions == 0 }, "session removed")
}

func TestSession_maxSessionExpiryCaps(t *testing.T) {
	_, addr := testutil.StartBroker(t, func(o *broker.Options) { o.MaxSessionExpiry = 10 * time.Second })
	_, ack := connectRaw(t, addr, "dev", func(cp *packet.Connect) { setExpiry(cp, 1000) })
	require.Equal(t, uint32(10), ack.Properties.SessionExpiry, "CONNACK tells the capped expiry")
}

func TestSession_assignedClientID(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	_, ack := connectRaw(t, addr, "", nil)
	require.NotEmpty(t, ack.Properties.AssignedClientID)

	rc := dialRaw(t, addr, packet.V311)
	rc.send(&packet.Connect{Version: packet.V311})
	ack3, ok := rc.read().(*packet.Connack)
	require.True(t, ok)
	require.Equal(t, packet.V311IdentifierRejected, ack3.ReasonCode, "3.1.1: empty id needs clean session")
	require.Nil(t, rc.closed())
}

func TestSession_takeover(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	ev := recordEvents(t, s)
	pub := connectV5(t, addr, "pub", nil)
	old := connectV5(t, addr, "dev", expiryV5(300, true))
	old.subscribe(t, paho.SubscribeOptions{Topic: "cmd", QoS: 1})

	nu := connectV5(t, addr, "dev", expiryV5(300, false))
	require.True(t, nu.connack.SessionPresent, "the new connection resumes the session")
	select {
	case d := <-old.discs:
		require.Equal(t, byte(packet.SessionTakenOver), d.ReasonCode)
	case <-time.After(5 * time.Second):
		t.Fatal("old connection got no DISCONNECT")
	}
	e := ev.wait(t, msg.EventClientDisconnected, "dev")
	require.Equal(t, "takenover", e.Reason)
	require.Equal(t, int64(2), s.Stats().Sessions, "pub and dev: one session for dev")

	pub.publish(t, &paho.Publish{Topic: "cmd", QoS: 1, Payload: []byte("x")})
	require.Equal(t, "x", string(nu.next(t).Payload), "the new connection receives")
}

func TestSession_v311Persistent(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	ev := recordEvents(t, s)
	persistent := func(o *mqtt3.ClientOptions) { o.SetCleanSession(false) }
	dev := connectV3(t, addr, "dev3", persistent)
	dev.sub(t, "cmd3/#", 1)
	dev.Disconnect(100)
	ev.wait(t, msg.EventClientDisconnected, "dev3")

	pub := connectV3(t, addr, "pub3", nil)
	pub.pub(t, "cmd3/a", 1, false, "queued")

	dev2 := connectV3(t, addr, "dev3", persistent)
	require.True(t, dev2.IsConnected())
	got := dev2.next(t)
	require.Equal(t, "queued", string(got.Payload()))
	require.Equal(t, byte(1), got.Qos())
}
