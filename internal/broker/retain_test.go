package broker_test

import (
	"context"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// marker publishes a QoS 1 message on topic and waits for c to receive it,
// failing if anything else arrives first: it proves that nothing published
// before it is still on its way to c.
func marker(t *testing.T, pub, c *v5Client, topic string) {
	t.Helper()
	pub.publish(t, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("marker")})
	got := c.next(t)
	require.Equal(t, topic, got.Topic, "the marker is the next message; got %q", got.Payload)
	require.Equal(t, "marker", string(got.Payload))
}

func TestRetain_sentOnSubscribeWithRetainFlag(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	live := connectV5(t, addr, "live", nil)
	live.subscribe(t, paho.SubscribeOptions{Topic: "r/#", QoS: 1})
	pub := connectV5(t, addr, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "r/a", QoS: 1, Retain: true, Payload: []byte("x")})

	got := live.next(t)
	require.Equal(t, "x", string(got.Payload))
	require.False(t, got.Retain, "a live message is forwarded with retain 0 (no Retain As Published)")

	late := connectV5(t, addr, "late", nil)
	late.subscribe(t, paho.SubscribeOptions{Topic: "r/+", QoS: 1})
	got = late.next(t)
	require.Equal(t, "r/a", got.Topic)
	require.Equal(t, "x", string(got.Payload))
	require.True(t, got.Retain, "a retained message sent on subscribe has retain 1")
	require.Equal(t, byte(1), got.QoS)
}

func TestRetain_replaceAndClear(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	pub := connectV5(t, addr, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "r/a", QoS: 1, Retain: true, Payload: []byte("old")})
	pub.publish(t, &paho.Publish{Topic: "r/a", QoS: 1, Retain: true, Payload: []byte("new")})
	pub.publish(t, &paho.Publish{Topic: "r/b", QoS: 1, Retain: true, Payload: []byte("b")})
	require.Equal(t, 2, s.Stats().Retained)

	c1 := connectV5(t, addr, "c1", nil)
	c1.subscribe(t, paho.SubscribeOptions{Topic: "r/a", QoS: 1}, paho.SubscribeOptions{Topic: "m", QoS: 1})
	require.Equal(t, "new", string(c1.next(t).Payload), "the latest retained message replaces the older one")
	marker(t, pub, c1, "m")

	// An empty retained payload clears the topic; it is still forwarded.
	pub.publish(t, &paho.Publish{Topic: "r/a", QoS: 1, Retain: true})
	got := c1.next(t)
	require.Equal(t, "r/a", got.Topic)
	require.Empty(t, got.Payload)
	require.Equal(t, 1, s.Stats().Retained)

	c2 := connectV5(t, addr, "c2", nil)
	c2.subscribe(t, paho.SubscribeOptions{Topic: "r/a", QoS: 1}, paho.SubscribeOptions{Topic: "m", QoS: 1})
	marker(t, pub, c2, "m")
}

func TestRetain_qosIsTheMinimumOfMessageAndSubscription(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	pub := connectV5(t, addr, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "q/2", QoS: 2, Retain: true, Payload: []byte("two")})
	pub.publish(t, &paho.Publish{Topic: "q/0", QoS: 0, Retain: true, Payload: []byte("zero")})
	pub.publish(t, &paho.Publish{Topic: "sync", QoS: 1}) // the QoS 0 one is stored by now

	c := connectV5(t, addr, "c", nil)
	c.subscribe(t, paho.SubscribeOptions{Topic: "q/2", QoS: 1})
	require.Equal(t, byte(1), c.next(t).QoS)
	c.subscribe(t, paho.SubscribeOptions{Topic: "q/0", QoS: 2})
	got := c.next(t)
	require.Equal(t, "zero", string(got.Payload))
	require.Equal(t, byte(0), got.QoS)
}

func TestRetain_v311(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	pub := connectV3(t, addr, "pub3", nil)
	live := connectV3(t, addr, "live3", nil)
	live.sub(t, "r3/#", 1)
	pub.pub(t, "r3/x", 1, true, "v")
	got := live.next(t)
	require.False(t, got.Retained(), "3.1.1: a live message is forwarded with retain 0")

	late := connectV3(t, addr, "late3", nil)
	late.sub(t, "r3/#", 1)
	got = late.next(t)
	require.True(t, got.Retained())
	require.Equal(t, "v", string(got.Payload()))
}

func TestRetain_maxRetained(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.MaxRetained = 1 })
	pub := connectV5(t, addr, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "a", QoS: 1, Retain: true, Payload: []byte("1")})
	pub.publish(t, &paho.Publish{Topic: "b", QoS: 1, Retain: true, Payload: []byte("2")})
	require.Equal(t, 1, s.Stats().Retained, "the second topic is not stored")
	pub.publish(t, &paho.Publish{Topic: "a", QoS: 1, Retain: true, Payload: []byte("3")})

	c := connectV5(t, addr, "c", nil)
	c.subscribe(t, paho.SubscribeOptions{Topic: "#", QoS: 1})
	got := c.next(t)
	require.Equal(t, "a", got.Topic)
	require.Equal(t, "3", string(got.Payload), "an existing retained topic may still be replaced at the cap")
	marker(t, pub, c, "m")
}

func TestRetain_notAvailable(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.RetainAvailable = false })
	rc, ack := connectRaw(t, addr, "r", nil)
	require.True(t, ack.Properties.HasRetainAvailable)
	require.Equal(t, byte(0), ack.Properties.RetainAvailable, "CONNACK announces Retain Available 0")

	rc.send(&packet.Publish{Topic: "t", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("x")})
	d := rc.closed()
	require.NotNil(t, d, "v5: DISCONNECT before close")
	require.Equal(t, packet.RetainNotSupported, d.ReasonCode)
	require.Equal(t, 0, s.Stats().Retained)

	// Retained messages from inside the hub are not stored either.
	_, err := s.Publish(context.Background(), &msg.Message{Topic: "t", Payload: []byte("x"), Retain: true})
	require.NoError(t, err)
	require.Equal(t, 0, s.Stats().Retained)
}
