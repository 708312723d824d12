package broker_test

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// withWill returns a CONNECT configurator setting a QoS 1 will on topic.
func withWill(topic string, more func(*packet.Connect)) func(*packet.Connect) {
	return func(cp *packet.Connect) {
		cp.WillFlag, cp.WillQoS, cp.WillTopic, cp.WillPayload = true, 1, topic, []byte("gone")
		if more != nil {
			more(cp)
		}
	}
}

func TestWill_publishedOnAbnormalClose(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	sub := connectV5(t, addr, "sub", nil)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "will/#", QoS: 2})
	dev, _ := connectRaw(t, addr, "dev", withWill("will/dev", func(cp *packet.Connect) {
		cp.WillQoS = 2
		cp.WillProperties = packet.Properties{
			ContentType: "text/plain", ResponseTopic: "resp/dev", CorrelationData: []byte{1, 2},
			User: []packet.UserProperty{{Key: "k", Value: "v"}},
		}
	}))
	require.NoError(t, dev.conn.Close())

	got := sub.next(t)
	require.Equal(t, "will/dev", got.Topic)
	require.Equal(t, "gone", string(got.Payload))
	require.Equal(t, byte(2), got.QoS)
	require.NotNil(t, got.Properties)
	require.Equal(t, "text/plain", got.Properties.ContentType)
	require.Equal(t, "resp/dev", got.Properties.ResponseTopic)
	require.Equal(t, []byte{1, 2}, got.Properties.CorrelationData)
	require.Equal(t, "v", got.Properties.User.Get("k"))
}

func TestWill_notPublishedOnNormalDisconnect(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	ev := recordEvents(t, s)
	sub := connectV5(t, addr, "sub", nil)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "will/#", QoS: 1}, paho.SubscribeOptions{Topic: "m", QoS: 1})
	dev, _ := connectRaw(t, addr, "dev", withWill("will/dev", nil))
	dev.send(&packet.Disconnect{})
	ev.wait(t, msg.EventClientDisconnected, "dev")
	marker(t, sub, sub, "m")
}

func TestWill_disconnectWithWill(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	sub := connectV5(t, addr, "sub", nil)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "will/#", QoS: 1})
	dev, _ := connectRaw(t, addr, "dev", withWill("will/dev", nil))
	dev.send(&packet.Disconnect{ReasonCode: packet.DisconnectWithWill})
	require.Equal(t, "will/dev", sub.next(t).Topic, "DISCONNECT 0x04 asks for the will")
}

func TestWill_retained(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	dev, _ := connectRaw(t, addr, "dev", withWill("will/dev", func(cp *packet.Connect) { cp.WillRetain = true }))
	require.NoError(t, dev.conn.Close())
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Retained == 1 }, "will stored as retained")
	late := connectV5(t, addr, "late", nil)
	late.subscribe(t, paho.SubscribeOptions{Topic: "will/#", QoS: 1})
	got := late.next(t)
	require.True(t, got.Retain)
	require.Equal(t, "gone", string(got.Payload))
}

func TestWill_delay(t *testing.T) {
	t.Parallel()
	_, addr := testutil.StartBroker(t, nil)
	sub := connectV5(t, addr, "sub", nil)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "will/#", QoS: 1})
	delayed := func(cp *packet.Connect) {
		cp.WillProperties.WillDelay = 1
		setExpiry(cp, 60)
	}

	// "back" reconnects within its will delay: its will is cancelled.
	// "gone" closes after it and stays away: its will arrives after 1s,
	// which proves that back's would have arrived by then.
	back, _ := connectRaw(t, addr, "back", withWill("will/back", delayed))
	gone, _ := connectRaw(t, addr, "gone", withWill("will/gone", delayed))
	require.NoError(t, back.conn.Close())
	closedAt := time.Now()
	require.NoError(t, gone.conn.Close())
	_, ack := connectRaw(t, addr, "back", func(cp *packet.Connect) { cp.CleanStart = false })
	require.True(t, ack.SessionPresent)

	got := sub.next(t)
	require.Equal(t, "will/gone", got.Topic, "the reconnected client's will is not published")
	require.GreaterOrEqual(t, time.Since(closedAt), time.Second, "the will waits for its delay")
	sub.none(t, 100*time.Millisecond)
}

func TestWill_delayCappedBySessionExpiry(t *testing.T) {
	t.Parallel()
	_, addr := testutil.StartBroker(t, nil)
	sub := connectV5(t, addr, "sub", nil)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "will/#", QoS: 1})
	dev, _ := connectRaw(t, addr, "dev", withWill("will/dev", func(cp *packet.Connect) {
		cp.WillProperties.WillDelay = 3600
		setExpiry(cp, 1)
	}))
	require.NoError(t, dev.conn.Close())
	closedAt := time.Now()
	require.Equal(t, "will/dev", sub.next(t).Topic, "the will is published when the session ends")
	require.GreaterOrEqual(t, time.Since(closedAt), time.Second)
}

func TestWill_takeover(t *testing.T) {
	tests := []struct {
		name       string
		cleanStart bool
	}{
		{"cleanStart", true},
		{"resume", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := testutil.StartBroker(t, nil)
			sub := connectV5(t, addr, "sub", nil)
			sub.subscribe(t, paho.SubscribeOptions{Topic: "will/#", QoS: 1})
			old, _ := connectRaw(t, addr, "dev", withWill("will/dev", func(cp *packet.Connect) { setExpiry(cp, 60) }))
			connectRaw(t, addr, "dev", func(cp *packet.Connect) { cp.CleanStart = tc.cleanStart; setExpiry(cp, 60) })
			d := old.closed()
			require.NotNil(t, d)
			require.Equal(t, packet.SessionTakenOver, d.ReasonCode)
			require.Equal(t, "will/dev", sub.next(t).Topic, "the taken-over connection's will (no delay) is published")
		})
	}
}

func TestWill_keepAliveTimeout(t *testing.T) {
	t.Parallel()
	_, addr := testutil.StartBroker(t, nil)
	sub := connectV5(t, addr, "sub", nil)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "will/#", QoS: 1})
	dev, _ := connectRaw(t, addr, "dev", withWill("will/dev", func(cp *packet.Connect) { cp.KeepAlive = 1 }))
	d := dev.closed()
	require.NotNil(t, d)
	require.Equal(t, packet.KeepAliveTimeout, d.ReasonCode)
	require.Equal(t, "will/dev", sub.next(t).Topic)
}

func TestWill_v311(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	sub := connectV3(t, addr, "sub3", nil)
	sub.sub(t, "will/#", 1)
	dev, _ := connectRaw(t, addr, "dev3", withWill("will/dev3", func(cp *packet.Connect) { cp.Version = packet.V311 }))
	require.NoError(t, dev.conn.Close())
	got := sub.next(t)
	require.Equal(t, "will/dev3", got.Topic())
	require.Equal(t, "gone", string(got.Payload()))
	require.Equal(t, byte(1), got.Qos())
}

func TestWill_topicTooDeepRefused(t *testing.T) {
	_, addr := testutil.StartBroker(t, func(o *broker.Options) { o.MaxTopicLevels = 2 })
	rc := dialRaw(t, addr, packet.V5)
	rc.send(&packet.Connect{Version: packet.V5, ClientID: "x", CleanStart: true, WillFlag: true, WillTopic: "a/b/c", WillPayload: []byte("p")})
	ack, ok := rc.read().(*packet.Connack)
	require.True(t, ok)
	require.Equal(t, packet.TopicNameInvalid, ack.ReasonCode)
	require.Nil(t, rc.closed())
}
