package broker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// TestEvents_qos1BackPressure: a slow event handler with a tiny queue still
// sees every QoS 1 published event (the publisher waits instead), while QoS
// 0 events beyond the queue are dropped and counted.
func TestEvents_qos1BackPressure(t *testing.T) {
	s, _ := testutil.StartBroker(t, func(o *broker.Options) { o.EventBuffer = 2 })
	var qos1, qos0 atomic.Int64
	release := make(chan struct{})
	remove := s.AddEventHandler(publishedOnly{func(ev msg.Event) {
		<-release // the handler is stuck until the publisher is known to wait
		if ev.QoS == 1 {
			qos1.Add(1)
		} else {
			qos0.Add(1)
		}
	}})
	defer remove()

	const n = 50
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			m := &msg.Message{Topic: "bp/qos1", Payload: []byte(fmt.Sprint(i)), QoS: 1}
			if _, err := s.Publish(context.Background(), m); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		t.Fatalf("publisher finished (%v) although the handler accepted nothing: events were dropped", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-done)
	testutil.Eventually(t, 10*time.Second, func() bool { return qos1.Load() == n }, "every QoS 1 event handled")
	require.Zero(t, s.Stats().EventsDropped, "no QoS 1 event dropped")

	for i := 0; i < n; i++ {
		_, err := s.Publish(context.Background(), &msg.Message{Topic: "bp/qos0", Payload: []byte("x")})
		require.NoError(t, err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return qos0.Load()+int64(s.Stats().EventsDropped) == n }, "QoS 0 events handled or counted as dropped")
}

// TestEvents_removeAfterShutdown: a handler's remove function may be called
// after the server shut down (which already removed it) without panicking.
func TestEvents_removeAfterShutdown(t *testing.T) {
	s, err := broker.New(broker.Defaults())
	require.NoError(t, err)
	remove := s.AddEventHandler(broker.EventHandlerFunc(func(msg.Event) {}))
	require.NoError(t, s.Shutdown(context.Background()))
	require.NotPanics(t, remove)
}

// publishedOnly is a handler that wants only published events (the
// others, such as message_dropped for these subscriber-less topics, would
// fill its small queue).
type publishedOnly struct{ broker.EventHandlerFunc }

func (publishedOnly) WantsEvent(k msg.EventKind) bool { return k == msg.EventMessagePublished }
