package broker_test

import (
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

func TestEvents_lifecycle(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	ev := recordEvents(t, s)

	sub, err := dialV5Config(t, addr, "lock1", func(cfg *paho.ClientConfig) {
		cfg.EnableManualAcknowledgment = true
		cfg.SendAcksInterval = 10 * time.Millisecond
	}, nil)
	require.NoError(t, err)
	e := ev.wait(t, msg.EventClientConnected, "lock1")
	require.Equal(t, byte(5), e.ProtoVer)
	require.Equal(t, uint16(30), e.KeepAlive)
	require.True(t, e.CleanStart)
	require.Equal(t, "tcp", e.Listener)
	require.Equal(t, s.NodeName(), e.Node)

	sub.subscribe(t, paho.SubscribeOptions{Topic: "devices/lock1/command", QoS: 1})
	e = ev.wait(t, msg.EventSessionSubscribed, "lock1")
	require.Equal(t, "devices/lock1/command", e.Filter)
	require.Equal(t, byte(1), e.QoS)

	api := connectV5(t, addr, "api", nil)
	api.publish(t, &paho.Publish{Topic: "devices/lock1/command", QoS: 1, Payload: []byte(`{"action":"unlock"}`)})
	e = ev.wait(t, msg.EventMessagePublished, "api")
	require.Equal(t, "devices/lock1/command", e.Message.Topic)
	require.Equal(t, "api", e.Message.ClientID)
	require.Equal(t, byte(1), e.QoS)

	got := sub.next(t) // written to the socket: delivered, not yet acked
	e = ev.wait(t, msg.EventMessageDelivered, "lock1")
	require.Equal(t, "devices/lock1/command", e.Message.Topic)
	require.Equal(t, byte(1), e.QoS)

	// Events reach a handler in order: everything emitted before the
	// SUBSCRIBE below was handled is seen before its event.
	sub.subscribe(t, paho.SubscribeOptions{Topic: "other", QoS: 0})
	for _, e := range ev.until(t, msg.EventSessionSubscribed, "lock1") {
		require.NotEqual(t, msg.EventMessageAcked, e.Kind, "acked before the receiver's PUBACK")
	}
	require.Equal(t, int64(1), s.Stats().Inflight)

	require.NoError(t, sub.Ack(got))
	e = ev.wait(t, msg.EventMessageAcked, "lock1")
	require.Equal(t, "devices/lock1/command", e.Message.Topic)
	require.Equal(t, "api", e.Message.ClientID, "the message says who published it")
	require.Equal(t, byte(1), e.QoS)

	_, err = sub.Unsubscribe(t.Context(), &paho.Unsubscribe{Topics: []string{"other"}})
	require.NoError(t, err)
	require.Equal(t, "other", ev.wait(t, msg.EventSessionUnsubscribed, "lock1").Filter)

	require.NoError(t, sub.Disconnect(&paho.Disconnect{}))
	require.Equal(t, "normal", ev.wait(t, msg.EventClientDisconnected, "lock1").Reason)

	// A QoS 0 message to a persistent but offline session is dropped, with
	// an event.
	away := connectV5(t, addr, "away", expiryV5(60, true))
	away.subscribe(t, paho.SubscribeOptions{Topic: "x", QoS: 0})
	require.NoError(t, away.Disconnect(&paho.Disconnect{}))
	ev.wait(t, msg.EventClientDisconnected, "away")
	api.publish(t, &paho.Publish{Topic: "x", QoS: 0, Payload: []byte("lost")})
	e = ev.wait(t, msg.EventDeliveryDropped, "away")
	require.Equal(t, "qos0_offline", e.Reason)
	require.Equal(t, "x", e.Message.Topic)
}

func TestEvents_slowHandlerDoesNotBlock(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.EventBuffer = 1 })
	release := make(chan struct{})
	remove := s.AddEventHandler(broker.EventHandlerFunc(func(msg.Event) { <-release }))
	t.Cleanup(remove)
	t.Cleanup(func() { close(release) })

	// QoS 0: such events are dropped rather than waited for (QoS 1/2
	// events wait up to EventBlockTimeout, see events_backpressure_test.go).
	c := connectV5(t, addr, "c", nil)
	c.subscribe(t, paho.SubscribeOptions{Topic: "t", QoS: 0})
	for range 5 {
		c.publish(t, &paho.Publish{Topic: "t", QoS: 0, Payload: []byte("x")})
		c.next(t)
	}
	require.Positive(t, s.Stats().EventsDropped, "a stuck handler loses QoS 0 events, the broker goes on")
}

// kindFilter is an event handler that wants the kinds in its set, which a
// test changes at run time.
type kindFilter struct {
	mu    sync.Mutex
	kinds map[msg.EventKind]bool
	ch    chan msg.Event
}

func (f *kindFilter) WantsEvent(k msg.EventKind) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kinds[k]
}

func (f *kindFilter) want(k msg.EventKind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kinds[k] = true
}

func (f *kindFilter) HandleEvent(ev msg.Event) { f.ch <- ev }

func TestEvents_filterSkipsUnwantedKinds(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	f := &kindFilter{kinds: map[msg.EventKind]bool{msg.EventClientConnected: true}, ch: make(chan msg.Event, 100)}
	t.Cleanup(s.AddEventHandler(f))

	pub := connectV5(t, addr, "f-pub", nil)
	pub.publish(t, &paho.Publish{Topic: "f/1", QoS: 1, Payload: []byte("unwanted")})
	f.want(msg.EventMessagePublished)
	pub.publish(t, &paho.Publish{Topic: "f/2", QoS: 1, Payload: []byte("wanted")})

	var got []string
	for len(got) < 2 {
		select {
		case ev := <-f.ch:
			switch ev.Kind {
			case msg.EventClientConnected:
				got = append(got, "connected "+ev.ClientID)
			case msg.EventMessagePublished:
				got = append(got, "published "+ev.Message.Topic)
			default:
				t.Fatalf("unwanted event %s", ev.Kind)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("events so far: %v", got)
		}
	}
	require.Equal(t, []string{"connected f-pub", "published f/2"}, got,
		"f/1 was published while message events were unwanted")
}
