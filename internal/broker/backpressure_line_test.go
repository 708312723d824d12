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

// Publishers waiting for room are let in in the order they came, and none
// is left waiting while the session could let it in.
func TestBackpressure_lineInArrivalOrder(t *testing.T) {
	const queued, pubs = 4, 6
	s, addr, sub := lineBroker(t, queued)
	done := joinLine(t, s, addr, pubs)

	// The subscriber reads and acknowledges one message at a time; when it
	// reads one, the acknowledgement before was handled (that message was
	// sent by it), and the line is as that acknowledgement left it.
	wantOrder := []string{"f", "f", "f", "f", "f", "p1", "p2", "p3", "p4", "p5", "p6"}
	last := pubs
	for i, want := range wantOrder {
		p := sub.readPublish()
		if want == "f" {
			require.Equal(t, "line/f", p.Topic, "message %d", i)
		} else {
			require.Equal(t, want, string(p.Payload), "message %d: waiting publishers are let in in arrival order", i)
		}
		waiting, lost := s.WaitLineForTest("sub")
		require.False(t, lost, "after message %d: a publisher waits although the queue could take its message", i)
		require.LessOrEqual(t, waiting, last, "after message %d: nobody joined", i)
		last = waiting
		sub.ack(packet.TypePuback, p.PacketID)
	}
	for i, d := range done {
		require.NoError(t, <-d, "p%d acknowledged", i+1)
	}
	waiting, _ := s.WaitLineForTest("sub")
	require.Zero(t, waiting)
	st := s.Stats()
	require.Zero(t, st.BackpressureTimeouts)
	for reason, v := range st.Dropped {
		require.Zero(t, v, "dropped %s", reason)
	}
}

// A publisher let in from the line puts a batch of its next messages in
// the queue without waiting again, although another publisher waits (one
// wake-up, one read and one write of PUBACKs per batch, not per message);
// the other is let in after that batch.
func TestBackpressure_lineLetsInABatch(t *testing.T) {
	const queued, batch = 64, 20
	s, addr, sub := lineBroker(t, queued)
	a, _ := connectRaw(t, addr, "a", nil)
	a.send(&packet.Publish{Topic: "line/a", QoS: 1, PacketID: 1, Payload: []byte("a0")})
	testutil.Eventually(t, 30*time.Second, func() bool { n, _ := s.WaitLineForTest("sub"); return n == 1 }, "a waits")
	done := joinLine2(t, s, addr, "b", 2)
	// a's next messages wait in its socket while its reader waits.
	for i := 1; i <= batch; i++ {
		a.send(&packet.Publish{Topic: "line/a", QoS: 1, PacketID: uint16(1 + i), Payload: []byte(fmt.Sprintf("a%d", i))})
	}
	var order []string
	for i := range 1 + queued + 1 + batch + 1 {
		p := sub.readPublish()
		if p.Topic != "line/f" {
			order = append(order, string(p.Payload))
		}
		_, lost := s.WaitLineForTest("sub")
		require.False(t, lost, "a publisher waits although the queue could take its message")
		if i == queued/2 {
			// f0..f32 read: the acknowledgement of f31 brought the queue
			// to half and let a in, with passes for 31 more. Before any
			// more acknowledgements (unused passes lapse after half a
			// queue), a's whole batch goes in without waiting behind b.
			for j := 0; j <= batch; j++ {
				ack, ok := a.read().(*packet.Ack)
				require.True(t, ok, "a gets PUBACKs")
				require.Equal(t, uint16(1+j), ack.PacketID)
			}
			waiting, _ := s.WaitLineForTest("sub")
			require.Equal(t, 1, waiting, "b still waits")
		}
		sub.ack(packet.TypePuback, p.PacketID)
	}
	want := []string{}
	for i := 0; i <= batch; i++ {
		want = append(want, fmt.Sprintf("a%d", i))
	}
	want = append(want, "b")
	require.Equal(t, want, order, "a's batch in a row, then b")
	require.NoError(t, <-done)
	require.Zero(t, s.Stats().BackpressureTimeouts)
}

// joinLine2 makes publisher id publish one message "b" and waits until it
// is the n-th in the line.
func joinLine2(t *testing.T, s *broker.Server, addr, id string, n int) <-chan error {
	t.Helper()
	p := connectV5(t, addr, id, nil)
	done := publishOne(p, "line/b", "b")
	testutil.Eventually(t, 30*time.Second, func() bool {
		waiting, _ := s.WaitLineForTest("sub")
		return waiting == n
	}, id+" waits in the line")
	return done
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

// With BackpressureQueue under the queue's limit, a connected subscriber's
// publishers wait once its queue is that long, though the queue could hold
// more: its backlog, and so its latency, stays at that length. Once the
// subscriber stalls, its messages go to the queue up to its own limit, and
// nothing is dropped.
func TestBackpressure_queueBound(t *testing.T) {
	const bound = 4
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{
		{"draining subscriber", 10 * time.Minute},
		{"stalled subscriber", 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := testutil.StartBroker(t, func(o *broker.Options) {
				o.MaxInflight = 1
				o.MaxQueuedMessages = 1000
				o.BackpressureQueue = bound
				o.BackpressureTimeout = tc.timeout
			})
			sub, _ := connectRaw(t, addr, "sub", nil)
			sub.subscribe(1, packet.Subscription{Filter: "bq/#", QoS: 1})
			filler := connectV5(t, addr, "filler", nil)
			require.NoError(t, <-publishAsync(filler, "bq/f", 1, 1+bound, 0), "the window and the bound fill")
			p := connectV5(t, addr, "p", nil)
			done := publishAsync(p, "bq/p", 1, 20, 0)
			if tc.timeout > time.Minute {
				testutil.Eventually(t, 30*time.Second, func() bool {
					waiting, _ := s.WaitLineForTest("sub")
					return waiting == 1
				}, "the next publisher waits although the queue could take its message")
				require.EqualValues(t, bound, s.Stats().Queued, "the queue stays at the bound")
			} else {
				require.NoError(t, <-done, "a stalled subscriber holds its publisher only once")
				require.EqualValues(t, bound+20, s.Stats().Queued, "the stalled subscriber's messages are queued")
			}
			for i := range 1 + bound + 20 {
				m := sub.readPublish()
				require.LessOrEqual(t, s.Stats().Queued, int64(bound+20), "message %d", i)
				sub.ack(packet.TypePuback, m.PacketID)
			}
			if tc.timeout > time.Minute {
				require.NoError(t, <-done, "every message acknowledged")
			}
			for reason, n := range s.Stats().Dropped {
				require.Zero(t, n, "nothing dropped (%s)", reason)
			}
		})
	}
}
