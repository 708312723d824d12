package broker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// A tap sees the routed messages its filter matches, from devices and from
// Publish, and nothing after cancel.
func TestTap_seesMatchingMessages(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	var mu sync.Mutex
	var seen []string
	cancel, err := s.Tap("devices/+/state", func(m *msg.Message) {
		mu.Lock()
		seen = append(seen, m.Topic+" "+string(m.Payload))
		mu.Unlock()
	})
	require.NoError(t, err)
	_, err = s.Tap("a/#/b", func(*msg.Message) {})
	require.ErrorIs(t, err, broker.ErrBadFilter)

	dev := connectV5(t, addr, "lock-1", nil)
	dev.publish(t, &paho.Publish{Topic: "devices/lock-1/state", QoS: 1, Payload: []byte("on")})
	dev.publish(t, &paho.Publish{Topic: "devices/lock-1/other", QoS: 1, Payload: []byte("no")})
	_, err = s.Publish(context.Background(), &msg.Message{Topic: "devices/api/state", Payload: []byte("api")})
	require.NoError(t, err)
	mu.Lock()
	require.Equal(t, []string{"devices/lock-1/state on", "devices/api/state api"}, seen)
	mu.Unlock()

	cancel()
	cancel() // twice is fine
	_, err = s.Publish(context.Background(), &msg.Message{Topic: "devices/x/state", Payload: []byte("late")})
	require.NoError(t, err)
	mu.Lock()
	require.Len(t, seen, 2)
	mu.Unlock()
}

func TestTap_bounded(t *testing.T) {
	s, _ := testutil.StartBroker(t, nil)
	for range broker.MaxTaps {
		cancel, err := s.Tap("#", func(*msg.Message) {})
		require.NoError(t, err)
		t.Cleanup(cancel)
	}
	_, err := s.Tap("#", func(*msg.Message) {})
	require.ErrorIs(t, err, broker.ErrTooManyTaps)
}

// DiscardSession ends an offline persistent session (its queued command
// is answered dropped) and refuses a connected one.
func TestDiscardSession(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	require.ErrorIs(t, s.DiscardSession("nobody"), broker.ErrNoSession)
	connectV5(t, addr, "online", nil)
	require.ErrorIs(t, s.DiscardSession("online"), broker.ErrConnected)

	ch := queuedCommand(t, s, addr, "lock-9")
	ci, ok := s.Client("lock-9")
	require.True(t, ok)
	require.Equal(t, 1, ci.Queued)
	require.NoError(t, s.DiscardSession("lock-9"))
	_, ok = s.Client("lock-9")
	require.False(t, ok)
	require.Equal(t, broker.StatusDropped, nextStep(t, ch).Status)
}

// The dashboard's filters: substring search, protocol, address, backlog
// and drops.
func TestClients_filters(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	connectV5(t, addr, "Lock-A1", nil)
	connectV3(t, addr, "lock-b2", nil)
	queuedCommand(t, s, addr, "queue-c3")
	ids := func(q broker.ClientQuery) []string {
		q.Limit = 10
		page, _ := s.Clients(q)
		out := []string{}
		for _, c := range page {
			out = append(out, c.ClientID)
		}
		return out
	}
	require.Equal(t, []string{"Lock-A1", "lock-b2"}, ids(broker.ClientQuery{Search: "LOCK"}))
	require.Equal(t, []string{"lock-b2"}, ids(broker.ClientQuery{Protocol: "3.1.1"}))
	require.Equal(t, []string{"Lock-A1", "lock-b2"}, ids(broker.ClientQuery{Address: "127.0.0.1"}))
	require.Equal(t, []string{"queue-c3"}, ids(broker.ClientQuery{MinQueued: 1}))
	require.Empty(t, ids(broker.ClientQuery{MinDropped: 1}))
	out, _, err := s.SendToClient(context.Background(), "queue-c3", &msg.Message{Topic: "x", QoS: 0})
	require.NoError(t, err)
	require.Equal(t, broker.OutcomeDropped, out, "QoS 0 is not queued offline")
	require.Equal(t, []string{"queue-c3"}, ids(broker.ClientQuery{MinDropped: 1}))

	require.NoError(t, s.DiscardSession("queue-c3"))
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Dropped["session_ended"] >= 1 }, "drop counted")
}
