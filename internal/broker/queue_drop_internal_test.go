package broker

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/msg"
)

// A full queue drops a queued QoS 0 message first, the oldest, and looks
// for one only when one was queued since the last look found none; then
// the policy (drop_new here) drops the newcomer.
func TestQueueFull_dropsQueuedQoS0First(t *testing.T) {
	opts := Defaults()
	opts.SysInterval = 0
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.MaxQueuedMessages = 3
	opts.QueueFullPolicy = DropNew
	s, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })

	d := func(topic string, qos byte) delivery {
		return delivery{m: &msg.Message{Topic: topic, QoS: qos}, qos: qos}
	}
	ss := newSession(s, "offline")
	ss.mu.Lock()
	defer ss.mu.Unlock()
	queued := func() []string {
		var got []string
		for i := ss.queue.head; i < len(ss.queue.items); i++ {
			got = append(got, ss.queue.items[i].m.Topic)
		}
		return got
	}
	for _, step := range []struct {
		in          delivery
		want        deliverStatus
		wantQueue   []string
		wantLooking bool // queueQoS0: a QoS 0 message may be queued
	}{
		{d("a", 1), accepted, []string{"a"}, false},
		{d("b", 0), accepted, []string{"a", "b"}, true},
		{d("c", 0), accepted, []string{"a", "b", "c"}, true},
		{d("d", 1), accepted, []string{"a", "c", "d"}, true}, // b, the oldest QoS 0, dropped
		{d("e", 1), accepted, []string{"a", "d", "e"}, true}, // then c
		{d("f", 1), full, []string{"a", "d", "e"}, false},    // none left: the policy drops f; no more looks
		{d("g", 1), full, []string{"a", "d", "e"}, false},
	} {
		require.Equal(t, step.want, ss.enqueueLocked(step.in), "queueing %s", step.in.m.Topic)
		require.Equal(t, step.wantQueue, queued(), "after %s", step.in.m.Topic)
		require.Equal(t, step.wantLooking, ss.queueQoS0, "after %s", step.in.m.Topic)
	}
	require.Equal(t, uint64(4), s.Stats().Dropped["queue_full"])
}
