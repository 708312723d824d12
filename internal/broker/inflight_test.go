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
)

// readUntil reads publishes from rc up to the one with payload stop and
// returns those before it.
func readUntil(t *testing.T, rc *rawClient, stop string) []*packet.Publish {
	t.Helper()
	var got []*packet.Publish
	for {
		p := rc.readPublish()
		if string(p.Payload) == stop {
			return got
		}
		got = append(got, p)
	}
}

func TestInflight_clientReceiveMaximum(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	rc, _ := connectRaw(t, addr, "rc", func(cp *packet.Connect) { cp.Properties.ReceiveMaximum = 2 })
	rc.subscribe(1, packet.Subscription{Filter: "rm", QoS: 1})
	pub := connectV5(t, addr, "pub", nil)
	for i := range 5 {
		pub.publish(t, &paho.Publish{Topic: "rm", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	// QoS 0 is not bound by Receive Maximum: it overtakes the queue and
	// proves the window was full when it was routed.
	pub.publish(t, &paho.Publish{Topic: "rm", QoS: 0, Payload: []byte("mark1")})
	got := readUntil(t, rc, "mark1")
	require.Len(t, got, 2, "at most Receive Maximum unacknowledged QoS 1 publishes")
	require.Equal(t, int64(3), s.Stats().Queued)

	rc.ack(packet.TypePuback, got[0].PacketID)
	third := rc.readPublish()
	require.Equal(t, "2", string(third.Payload), "one ack frees one slot, in order")
	pub.publish(t, &paho.Publish{Topic: "rm", QoS: 0, Payload: []byte("mark2")})
	require.Empty(t, readUntil(t, rc, "mark2"))

	rc.ack(packet.TypePuback, got[1].PacketID)
	rc.ack(packet.TypePuback, third.PacketID)
	for _, want := range []string{"3", "4"} {
		p := rc.readPublish()
		require.Equal(t, want, string(p.Payload))
		rc.ack(packet.TypePuback, p.PacketID)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Inflight == 0 && s.Stats().Queued == 0 }, "all completed")
}

func TestInflight_serverReceiveMaximum(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.MaxInflight = 2 })
	rc, ack := connectRaw(t, addr, "rc", nil)
	require.Equal(t, uint16(2), ack.Properties.ReceiveMaximum)
	for id := uint16(1); id <= 3; id++ {
		rc.send(&packet.Publish{Topic: "t", QoS: 2, PacketID: id, Payload: []byte("x")})
	}
	var d *packet.Disconnect
	for d == nil {
		switch p := rc.read().(type) {
		case *packet.Ack:
			require.Equal(t, packet.TypePubrec, p.PacketType)
		case *packet.Disconnect:
			d = p
		}
	}
	require.Equal(t, packet.ReceiveMaximumExceeded, d.ReasonCode)
	require.Equal(t, uint64(1), s.Stats().ProtocolErrors)
}

func TestInflight_inboundQoS2ExactlyOnce(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	sub := connectV5(t, addr, "sub", nil)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "q2", QoS: 2}, paho.SubscribeOptions{Topic: "m", QoS: 1})
	rc, _ := connectRaw(t, addr, "rc", nil)
	expect := func(typ packet.Type, code packet.ReasonCode) {
		t.Helper()
		a, ok := rc.read().(*packet.Ack)
		require.True(t, ok)
		require.Equal(t, typ, a.PacketType)
		require.Equal(t, uint16(5), a.PacketID)
		require.Equal(t, code, a.ReasonCode)
	}
	p := &packet.Publish{Topic: "q2", QoS: 2, PacketID: 5, Payload: []byte("once")}
	rc.send(p)
	expect(packet.TypePubrec, packet.Success)
	p.Dup = true
	rc.send(p) // retransmission before PUBREL
	expect(packet.TypePubrec, packet.Success)
	rc.ack(packet.TypePubrel, 5)
	expect(packet.TypePubcomp, packet.Success)
	rc.ack(packet.TypePubrel, 5)
	expect(packet.TypePubcomp, packet.PacketIdentifierNotFound)

	require.Equal(t, "once", string(sub.next(t).Payload))
	rc.send(&packet.Publish{Topic: "q2", QoS: 2, PacketID: 5, Payload: []byte("reused id")})
	expect(packet.TypePubrec, packet.Success)
	require.Equal(t, "reused id", string(sub.next(t).Payload), "a released packet id carries a new message")
}

func TestInflight_redeliveryOnResume(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	persistent := func(clean bool) func(*packet.Connect) {
		return func(cp *packet.Connect) { cp.CleanStart = clean; setExpiry(cp, 300) }
	}
	rc, _ := connectRaw(t, addr, "dev", persistent(true))
	rc.subscribe(1, packet.Subscription{Filter: "q1", QoS: 1}, packet.Subscription{Filter: "q2", QoS: 2})
	pub := connectV5(t, addr, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "q1", QoS: 1, Payload: []byte("A")})
	pub.publish(t, &paho.Publish{Topic: "q2", QoS: 2, Payload: []byte("B")})
	pub.publish(t, &paho.Publish{Topic: "q2", QoS: 2, Payload: []byte("C")})
	a, b, c := rc.readPublish(), rc.readPublish(), rc.readPublish()
	require.Equal(t, "ABC", string(a.Payload)+string(b.Payload)+string(c.Payload))
	require.False(t, a.Dup)
	rc.ack(packet.TypePubrec, c.PacketID)
	rel, ok := rc.read().(*packet.Ack)
	require.True(t, ok)
	require.Equal(t, packet.TypePubrel, rel.PacketType)
	require.NoError(t, rc.conn.Close())

	rc2, ack := connectRaw(t, addr, "dev", persistent(false))
	require.True(t, ack.SessionPresent)
	for _, want := range []*packet.Publish{a, b} {
		got := rc2.readPublish()
		require.True(t, got.Dup, "MQTT-4.4.0-1: resent with DUP")
		require.Equal(t, want.PacketID, got.PacketID, "same packet id")
		require.Equal(t, want.Payload, got.Payload)
		require.Equal(t, want.QoS, got.QoS)
	}
	rel, ok = rc2.read().(*packet.Ack)
	require.True(t, ok, "after PUBREC the flow resumes with PUBREL, not PUBLISH")
	require.Equal(t, packet.TypePubrel, rel.PacketType)
	require.Equal(t, c.PacketID, rel.PacketID)

	rc2.ack(packet.TypePuback, a.PacketID)
	rc2.ack(packet.TypePubrec, b.PacketID)
	rel, ok = rc2.read().(*packet.Ack)
	require.True(t, ok)
	require.Equal(t, packet.TypePubrel, rel.PacketType)
	require.Equal(t, b.PacketID, rel.PacketID)
	rc2.ack(packet.TypePubcomp, b.PacketID)
	rc2.ack(packet.TypePubcomp, c.PacketID)
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Inflight == 0 }, "all flows completed")
}

func TestInflight_redeliveryRespectsNewReceiveMaximum(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	persistent := func(clean bool, rm uint16) func(*packet.Connect) {
		return func(cp *packet.Connect) {
			cp.CleanStart, cp.Properties.ReceiveMaximum = clean, rm
			setExpiry(cp, 300)
		}
	}
	rc, _ := connectRaw(t, addr, "dev", persistent(true, 10))
	rc.subscribe(1, packet.Subscription{Filter: "q", QoS: 1})
	pub := connectV5(t, addr, "pub", nil)
	for i := range 5 {
		pub.publish(t, &paho.Publish{Topic: "q", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	require.Len(t, readUntil(t, rc, "4"), 4)
	require.NoError(t, rc.conn.Close())

	rc2, _ := connectRaw(t, addr, "dev", persistent(false, 2))
	pub.publish(t, &paho.Publish{Topic: "q", QoS: 0, Payload: []byte("mark")})
	got := readUntil(t, rc2, "mark")
	require.Len(t, got, 2, "MQTT-3.3.4-9: redelivery stays within the new Receive Maximum")
	for i := range 5 {
		p := got[0]
		got = got[1:]
		require.Equal(t, fmt.Sprint(i), string(p.Payload), "redelivered in order")
		require.True(t, p.Dup)
		rc2.ack(packet.TypePuback, p.PacketID)
		if i < 3 {
			got = append(got, rc2.readPublish())
		}
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Inflight == 0 }, "all completed")
}
