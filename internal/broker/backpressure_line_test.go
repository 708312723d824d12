package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// lineBroker starts a hub whose subscriber "sub" (raw, not reading yet)
// has a window of 1 and a queue of queued messages, already full: 1 +
// queued messages f0.. from a filler publisher. The bound is long, so that
// no test depends on it running out.
func lineBroker(t *testing.T, queued int) (*broker.Server, string, *rawClient) {
	t.Helper()
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		o.MaxInflight = 1
		o.MaxQueuedMessages = queued
		o.BackpressureTimeout = 10 * time.Minute
	})
	sub, _ := connectRaw(t, addr, "sub", nil)
	sub.subscribe(1, packet.Subscription{Filter: "line/#", QoS: 1})
	filler := connectV5(t, addr, "filler", nil)
	for i := range 1 + queued {
		require.NoError(t, <-publishAsync(filler, "line/f", 1, 1, 0), "f%d fits in the window and the queue", i)
	}
	return s, addr, sub
}

// joinLine makes publishers p1..pn each publish one message "p<i>", one
// after the other: each waits in the subscriber's line before the next
// comes, so the line's order is known. It returns their results.
func joinLine(t *testing.T, s *broker.Server, addr string, n int) []<-chan error {
	t.Helper()
	done := make([]<-chan error, n)
	for i := range n {
		p := connectV5(t, addr, fmt.Sprintf("p%d", i+1), nil)
		done[i] = publishOne(p, "line/p", fmt.Sprintf("p%d", i+1))
		testutil.Eventually(t, 30*time.Second, func() bool {
			waiting, _ := s.WaitLineForTest("sub")
			return waiting == i+1
		}, fmt.Sprintf("p%d waits in the line", i+1))
	}
	return done
}

// Publishers waiting for room are let in in the order they came, as many
// at a time as the queue takes once it is down to half, and none is left
// waiting while the session could let it in.
func TestBackpressure_lineInArrivalOrder(t *testing.T) {
	const queued, pubs = 4, 6
	s, addr, sub := lineBroker(t, queued)
	done := joinLine(t, s, addr, pubs)

	// The subscriber reads and acknowledges one message at a time; when it
	// reads one, the acknowledgement before was handled (that message was
	// sent by it). Window 1, queue 4 (half: 2): f0 in flight, f1..f4
	// queued, p1..p6 waiting. The ack of f1 brings the queue to 2: p1 and
	// p2 are let in (queue full again); the ack of f3 lets p3 and p4 in,
	// the ack of p1 p5 and p6.
	wantOrder := []string{"f", "f", "f", "f", "f", "p1", "p2", "p3", "p4", "p5", "p6"}
	wantWaiting := []int{6, 6, 4, 4, 2, 2, 0, 0, 0, 0, 0}
	for i, want := range wantOrder {
		p := sub.readPublish()
		got := string(p.Payload)
		if want == "f" {
			require.Equal(t, "line/f", p.Topic, "message %d", i)
		} else {
			require.Equal(t, want, got, "message %d: waiting publishers are let in in arrival order", i)
		}
		waiting, lost := s.WaitLineForTest("sub")
		require.Equal(t, wantWaiting[i], waiting, "waiting after message %d", i)
		require.False(t, lost, "after message %d: a publisher waits although the queue could take its message", i)
		sub.ack(packet.TypePuback, p.PacketID)
	}
	for i, d := range done {
		require.NoError(t, <-d, "p%d acknowledged", i+1)
	}
	st := s.Stats()
	require.Zero(t, st.BackpressureTimeouts)
	for reason, v := range st.Dropped {
		require.Zero(t, v, "dropped %s", reason)
	}
}

// Publishers waiting for a subscriber that goes away are turned away at
// once (here: the session ends, so their messages have no taker), not held
// until their bound.
func TestBackpressure_lineTurnedAwayWhenSubscriberLeaves(t *testing.T) {
	s, addr, sub := lineBroker(t, 2)
	done := joinLine(t, s, addr, 3)
	require.NoError(t, sub.conn.Close())
	for i, d := range done {
		select {
		case err := <-d:
			require.NoError(t, err, "p%d acknowledged", i+1)
		case <-time.After(time.Minute):
			t.Fatalf("p%d still waits after the subscriber left (bound 10 minutes)", i+1)
		}
	}
	waiting, _ := s.WaitLineForTest("sub")
	require.Zero(t, waiting)
	require.Zero(t, s.Stats().BackpressureTimeouts)
}

// publishOne publishes payload on topic at QoS 1 from c and reports on the
// returned channel an error, or nil once acknowledged with a reason code
// below 0x80.
func publishOne(c *v5Client, topic, payload string) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		r, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
		if err == nil && r != nil && r.ReasonCode >= 0x80 {
			err = fmt.Errorf("%s: reason code %#x", payload, r.ReasonCode)
		}
		done <- err
	}()
	return done
}
