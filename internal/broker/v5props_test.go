package broker_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

func TestV5_noLocal(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	self := connectV5(t, addr, "self", nil)
	other := connectV5(t, addr, "other", nil)
	self.subscribe(t, paho.SubscribeOptions{Topic: "chat", QoS: 1, NoLocal: true})
	self.publish(t, &paho.Publish{Topic: "chat", QoS: 1, Payload: []byte("own")})
	other.publish(t, &paho.Publish{Topic: "chat", QoS: 1, Payload: []byte("theirs")})
	require.Equal(t, "theirs", string(self.next(t).Payload), "No Local: the client's own message is not sent back")
}

func TestV5_retainAsPublished(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	rap := connectV5(t, addr, "rap", nil)
	plain := connectV5(t, addr, "plain", nil)
	rap.subscribe(t, paho.SubscribeOptions{Topic: "r", QoS: 1, RetainAsPublished: true})
	plain.subscribe(t, paho.SubscribeOptions{Topic: "r", QoS: 1})
	pub := connectV5(t, addr, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "r", QoS: 1, Retain: true, Payload: []byte("x")})
	require.True(t, rap.next(t).Retain, "Retain As Published keeps the flag")
	require.False(t, plain.next(t).Retain)
	pub.publish(t, &paho.Publish{Topic: "r", QoS: 1, Payload: []byte("y")})
	require.False(t, rap.next(t).Retain, "a non-retained message stays non-retained")
}

func TestV5_retainHandling(t *testing.T) {
	tests := []struct {
		handling      byte
		first, second bool // retained message sent on first subscribe / on re-subscribe
	}{
		{0, true, true},
		{1, true, false},
		{2, false, false},
	}
	_, addr := testutil.StartBroker(t, nil)
	pub := connectV5(t, addr, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "rh", QoS: 1, Retain: true, Payload: []byte("r")})
	for _, tc := range tests {
		t.Run(string('0'+tc.handling), func(t *testing.T) {
			c := connectV5(t, addr, "c"+string('0'+tc.handling), nil)
			c.subscribe(t, paho.SubscribeOptions{Topic: "m", QoS: 1})
			for _, want := range []bool{tc.first, tc.second} {
				c.subscribe(t, paho.SubscribeOptions{Topic: "rh", QoS: 1, RetainHandling: tc.handling})
				if want {
					got := c.next(t)
					require.Equal(t, "rh", got.Topic)
					require.True(t, got.Retain)
				}
				marker(t, pub, c, "m")
			}
		})
	}
}

func TestV5_subscriptionIdentifiers(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	pub := connectV5(t, addr, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "s/a", QoS: 1, Retain: true, Payload: []byte("r")})

	rc, _ := connectRaw(t, addr, "rc", nil)
	rc.send(&packet.Subscribe{PacketID: 1, Properties: packet.Properties{SubscriptionIDs: []uint32{7}},
		Subscriptions: []packet.Subscription{{Filter: "s/+", QoS: 1}}})
	require.IsType(t, &packet.Suback{}, rc.read())
	retained := rc.readPublish()
	require.Equal(t, []uint32{7}, retained.Properties.SubscriptionIDs, "the retained message carries the id")
	rc.ack(packet.TypePuback, retained.PacketID)

	rc.send(&packet.Subscribe{PacketID: 2, Properties: packet.Properties{SubscriptionIDs: []uint32{9}},
		Subscriptions: []packet.Subscription{{Filter: "s/#", QoS: 1, RetainHandling: 2}}})
	require.IsType(t, &packet.Suback{}, rc.read())
	rc.send(&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "nosid", QoS: 1}}})
	require.IsType(t, &packet.Suback{}, rc.read())

	pub.publish(t, &paho.Publish{Topic: "s/a", QoS: 1, Payload: []byte("both")})
	got := rc.readPublish()
	require.Equal(t, "both", string(got.Payload))
	ids := slices.Clone(got.Properties.SubscriptionIDs)
	slices.Sort(ids)
	require.Equal(t, []uint32{7, 9}, ids, "overlapping subscriptions: one message with both ids")
	rc.ack(packet.TypePuback, got.PacketID)

	pub.publish(t, &paho.Publish{Topic: "nosid", QoS: 1, Payload: []byte("n")})
	got = rc.readPublish()
	require.Empty(t, got.Properties.SubscriptionIDs)
}

func TestV5_inboundTopicAlias(t *testing.T) {
	_, addr := testutil.StartBroker(t, func(o *broker.Options) { o.TopicAliasMaximum = 5 })
	sub := connectV5(t, addr, "sub", nil)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "alias/#", QoS: 1})
	rc, ack := connectRaw(t, addr, "rc", nil)
	require.Equal(t, uint16(5), ack.Properties.TopicAliasMaximum)

	rc.send(&packet.Publish{Topic: "alias/a", QoS: 1, PacketID: 1, Properties: packet.Properties{TopicAlias: 3}, Payload: []byte("1")})
	require.IsType(t, &packet.Ack{}, rc.read())
	rc.send(&packet.Publish{QoS: 1, PacketID: 2, Properties: packet.Properties{TopicAlias: 3}, Payload: []byte("2")})
	require.IsType(t, &packet.Ack{}, rc.read())
	for _, want := range []string{"1", "2"} {
		got := sub.next(t)
		require.Equal(t, "alias/a", got.Topic, "the alias resolves to its topic")
		require.Equal(t, want, string(got.Payload))
	}

	tests := []struct {
		name string
		pub  *packet.Publish
		code packet.ReasonCode
	}{
		{"aboveMaximum", &packet.Publish{Topic: "alias/b", Properties: packet.Properties{TopicAlias: 6}}, packet.TopicAliasInvalid},
		{"unknown", &packet.Publish{Properties: packet.Properties{TopicAlias: 4}}, packet.ProtocolError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, _ := connectRaw(t, addr, "bad", nil)
			rc.send(tc.pub)
			d := rc.closed()
			require.NotNil(t, d)
			require.Equal(t, tc.code, d.ReasonCode)
			require.NotEmpty(t, d.Properties.ReasonString, "the DISCONNECT says why")
		})
	}
}

func TestV5_outboundTopicAlias(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	rc, _ := connectRaw(t, addr, "rc", func(cp *packet.Connect) {
		cp.Properties.TopicAliasMaximum = 1
		cp.Properties.MaximumPacketSize = 200
	})
	rc.subscribe(1, packet.Subscription{Filter: "oa/#"})
	pub := connectV5(t, addr, "pub", nil)
	send := func(topic string, size int) {
		pub.publish(t, &paho.Publish{Topic: topic, QoS: 1, Payload: bytes.Repeat([]byte("x"), size)})
	}

	// A message too large for the client is dropped before it can teach
	// the client an alias; the next one on that topic must carry the topic.
	send("oa/big", 500)
	send("oa/big", 1)
	got := rc.readPublish()
	require.Equal(t, "oa/big", got.Topic, "an alias is only used once the client has seen it")
	require.Equal(t, uint16(1), got.Properties.TopicAlias)

	send("oa/big", 2)
	got = rc.readPublish()
	require.Empty(t, got.Topic, "a known alias replaces the topic")
	require.Equal(t, uint16(1), got.Properties.TopicAlias)
	require.Len(t, got.Payload, 2)

	send("oa/other", 3)
	got = rc.readPublish()
	require.Equal(t, "oa/other", got.Topic)
	require.Zero(t, got.Properties.TopicAlias, "no alias beyond the client's Topic Alias Maximum")
}

func TestV5_messagePropertiesPassThrough(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	sub := connectV5(t, addr, "sub", nil)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "req", QoS: 1})
	pub := connectV5(t, addr, "pub", nil)
	format := byte(1)
	pub.publish(t, &paho.Publish{Topic: "req", QoS: 1, Payload: []byte(`{"a":1}`), Properties: &paho.PublishProperties{
		PayloadFormat:   &format,
		ContentType:     "application/json",
		ResponseTopic:   "resp/pub",
		CorrelationData: []byte{0xde, 0xad},
		User:            paho.UserProperties{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}, {Key: "z", Value: ""}},
	}})
	got := sub.next(t)
	p := got.Properties
	require.NotNil(t, p)
	require.NotNil(t, p.PayloadFormat)
	require.Equal(t, byte(1), *p.PayloadFormat)
	require.Equal(t, "application/json", p.ContentType)
	require.Equal(t, "resp/pub", p.ResponseTopic)
	require.Equal(t, []byte{0xde, 0xad}, p.CorrelationData)
	require.Equal(t, paho.UserProperties{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}, {Key: "z", Value: ""}}, p.User,
		"user properties keep order and duplicates")
	require.Nil(t, p.MessageExpiry, "no expiry unless the publisher set one")
}

func TestV5_messageExpiry(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClock()
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.Clock = clock })
	ev := recordEvents(t, s)
	live := connectV5(t, addr, "live", nil)
	live.subscribe(t, paho.SubscribeOptions{Topic: "exp/#", QoS: 1})
	away := connectV5(t, addr, "away", expiryV5(300, true))
	away.subscribe(t, paho.SubscribeOptions{Topic: "exp/#", QoS: 1})
	require.NoError(t, away.Disconnect(&paho.Disconnect{}))
	ev.wait(t, msg.EventClientDisconnected, "away")

	pub := connectV5(t, addr, "pub", nil)
	one, ten := uint32(1), uint32(10)
	pub.publish(t, &paho.Publish{Topic: "exp/short", QoS: 1, Payload: []byte("short"), Properties: &paho.PublishProperties{MessageExpiry: &one}})
	pub.publish(t, &paho.Publish{Topic: "exp/long", QoS: 1, Payload: []byte("long"), Properties: &paho.PublishProperties{MessageExpiry: &ten}})
	live.next(t)
	got := live.next(t)
	require.Equal(t, "exp/long", got.Topic)
	require.NotNil(t, got.Properties.MessageExpiry)
	require.LessOrEqual(t, *got.Properties.MessageExpiry, uint32(10))
	require.GreaterOrEqual(t, *got.Properties.MessageExpiry, uint32(9), "the remaining lifetime is forwarded")

	// The short message expires in the offline session's queue.
	clock.Advance(1100 * time.Millisecond)
	back := connectV5(t, addr, "away", expiryV5(300, false))
	got = back.next(t)
	require.Equal(t, "exp/long", got.Topic, "the expired message is not delivered")
	require.LessOrEqual(t, *got.Properties.MessageExpiry, uint32(9), "the time spent queued is subtracted")
	require.Equal(t, uint64(1), s.Stats().Dropped["expired"])
}

func TestV5_maximumPacketSize(t *testing.T) {
	t.Run("inbound", func(t *testing.T) {
		s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.MaxPacketSize = 256 })
		rc, ack := connectRaw(t, addr, "rc", nil)
		require.Equal(t, uint32(256), ack.Properties.MaximumPacketSize, "CONNACK announces the limit")
		rc.send(&packet.Publish{Topic: "t", Payload: make([]byte, 300)})
		d := rc.closed()
		require.NotNil(t, d)
		require.Equal(t, packet.PacketTooLarge, d.ReasonCode)
		require.Equal(t, uint64(1), s.Stats().MalformedPackets)
	})
	t.Run("outbound", func(t *testing.T) {
		s, addr := testutil.StartBroker(t, nil)
		small := connectV5(t, addr, "small", func(cp *paho.Connect) {
			max := uint32(128)
			cp.Properties = &paho.ConnectProperties{MaximumPacketSize: &max}
		})
		big := connectV5(t, addr, "big", nil)
		for _, c := range []*v5Client{small, big} {
			c.subscribe(t, paho.SubscribeOptions{Topic: "mps/#", QoS: 1}, paho.SubscribeOptions{Topic: "m", QoS: 1})
		}
		pub := connectV5(t, addr, "pub", nil)
		pub.publish(t, &paho.Publish{Topic: "mps/a", QoS: 0, Payload: make([]byte, 500)})
		pub.publish(t, &paho.Publish{Topic: "mps/b", QoS: 1, Payload: make([]byte, 500)})
		marker(t, pub, small, "m")
		require.Len(t, big.next(t).Payload, 500, "other subscribers still get it")
		require.Len(t, big.next(t).Payload, 500)
		require.Equal(t, uint64(2), s.Stats().Dropped["packet_too_large"])
		testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Inflight == 0 }, "the dropped QoS 1 flow is completed")
		pub.publish(t, &paho.Publish{Topic: "mps/c", QoS: 1, Payload: []byte("fits")})
		require.Equal(t, "fits", string(small.next(t).Payload))
	})
}

func TestV5_serverDisconnectReasons(t *testing.T) {
	t.Run("shutdown", func(t *testing.T) {
		s, addr := testutil.StartBroker(t, nil)
		rc, _ := connectRaw(t, addr, "rc", nil)
		go func() { _ = s.Shutdown(context.Background()) }()
		d := rc.closed()
		require.NotNil(t, d)
		require.Equal(t, packet.ServerShuttingDown, d.ReasonCode)
		require.NotEmpty(t, d.Properties.ReasonString)
	})
	t.Run("takeover", func(t *testing.T) {
		_, addr := testutil.StartBroker(t, nil)
		rc, _ := connectRaw(t, addr, "dup", nil)
		connectRaw(t, addr, "dup", nil)
		d := rc.closed()
		require.NotNil(t, d)
		require.Equal(t, packet.SessionTakenOver, d.ReasonCode)
	})
	t.Run("reasonStringFitsMaximumPacketSize", func(t *testing.T) {
		_, addr := testutil.StartBroker(t, nil)
		rc, _ := connectRaw(t, addr, "rc", func(cp *packet.Connect) { cp.Properties.MaximumPacketSize = 20 })
		rc.send(&packet.Connect{Version: packet.V5, ClientID: "again"})
		d := rc.closed()
		require.NotNil(t, d, "the DISCONNECT is still sent, without its reason string")
		require.Equal(t, packet.ProtocolError, d.ReasonCode)
		require.Empty(t, d.Properties.ReasonString)
	})
}

func TestV5_unsubscribeReasonCodes(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	rc, _ := connectRaw(t, addr, "rc", nil)
	rc.subscribe(1, packet.Subscription{Filter: "a"})
	rc.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"a", "never"}})
	ua, ok := rc.read().(*packet.Unsuback)
	require.True(t, ok)
	require.Equal(t, []packet.ReasonCode{packet.Success, packet.NoSubscriptionExisted}, ua.ReasonCodes)
}
