package broker_test

import (
	"context"
	"sync"
	"testing"

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
