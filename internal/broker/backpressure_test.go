package broker_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// drainRaw reads n PUBLISHes on rc from now on, acknowledging QoS 1 ones,
// and sends their payloads on the returned channel (closed at the end or
// at the first error, reported on errc).
func drainRaw(rc *rawClient, n int) (<-chan string, <-chan error) {
	out := make(chan string, n)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		for range n {
			p, err := rc.readErr(30 * time.Second)
			if err != nil {
				errc <- err
				return
			}
			pub, ok := p.(*packet.Publish)
			for !ok {
				if p, err = rc.readErr(30 * time.Second); err != nil {
					errc <- err
					return
				}
				pub, ok = p.(*packet.Publish)
			}
			if pub.QoS == 1 {
				b, _ := (&packet.Ack{PacketType: packet.TypePuback, PacketID: pub.PacketID}).AppendTo(nil, rc.v)
				if _, err := rc.conn.Write(b); err != nil {
					errc <- err
					return
				}
			}
			out <- string(pub.Payload)
		}
	}()
	return out, errc
}

// publishAsync publishes n QoS qos messages "0".."n-1" on topic from c,
// one after the other (each waits for its PUBACK), and reports the first
// error or nil on the returned channel.
func publishAsync(c *v5Client, topic string, qos byte, n int, size int) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := range n {
			payload := fmt.Sprintf("%0*d", size, i)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			r, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload)})
			cancel()
			if err == nil && r != nil && r.ReasonCode != 0 {
				err = fmt.Errorf("message %d: reason code %#x", i, r.ReasonCode)
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// A subscriber that drains, however late, loses nothing: the publisher
// waits for room instead of the queue dropping, for QoS 1 and QoS 0.
func TestBackpressure_drainingSubscriberLosesNothing(t *testing.T) {
	// QoS 0 needs more bytes than the socket buffers hold before the
	// hub's pending writes fill.
	for _, tc := range []struct {
		qos byte
		n   int
	}{{1, 200}, {0, 3000}} {
		qos, n := tc.qos, tc.n
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			s, addr := testutil.StartBroker(t, func(o *broker.Options) {
				o.MaxInflight = 2
				o.MaxQueuedMessages = 5
				o.MaxPendingWrites = 4
				o.BackpressureTimeout = time.Minute // the subscriber starts late, on a loaded machine
			})
			sub, _ := connectRaw(t, addr, "sub", nil)
			// A small receive buffer (not too small: the kernel then
			// probes a zero window with a backing-off timer).
			require.NoError(t, sub.conn.(*net.TCPConn).SetReadBuffer(64<<10))
			sub.subscribe(1, packet.Subscription{Filter: "bp/#", QoS: qos})

			pub := connectV5(t, addr, "pub", nil)
			done := publishAsync(pub, "bp/x", qos, n, 2000)
			testutil.Eventually(t, 30*time.Second, func() bool { return s.Stats().BackpressureWaits > 0 },
				"the publisher waits for room")

			got, errc := drainRaw(sub, n)
			i := 0
			for p := range got {
				require.Equal(t, fmt.Sprintf("%02000d", i), p, "in order, none missing")
				i++
			}
			select {
			case err := <-errc:
				require.NoError(t, err)
			default:
			}
			require.Equal(t, n, i)
			require.NoError(t, <-done)
			st := s.Stats()
			for reason, v := range st.Dropped {
				require.Zero(t, v, "dropped %s", reason)
			}
			require.Zero(t, st.BackpressureTimeouts)
			testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().BufferedBytes == 0 }, "nothing left counted")
		})
	}
}

// A stalled subscriber holds a publisher once for at most the bound, then
// its messages take the queue policy (counted) without waiting, while
// another subscriber on the same topic gets every message.
func TestBackpressure_stalledSubscriberBounded(t *testing.T) {
	const n = 30
	const bound = 300 * time.Millisecond
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		o.MaxInflight = 2
		o.MaxQueuedMessages = 3
		o.BackpressureTimeout = bound
	})
	stalled, _ := connectRaw(t, addr, "stalled", nil)
	stalled.subscribe(1, packet.Subscription{Filter: "st/#", QoS: 1})
	// From here on "stalled" neither reads nor acknowledges.
	fast := connectV5(t, addr, "fast", nil)
	fast.subscribe(t, paho.SubscribeOptions{Topic: "st/#", QoS: 1})
	pub := connectV5(t, addr, "pub", nil)

	var longest time.Duration
	for i := range n {
		start := time.Now()
		require.Equal(t, byte(packet.Success), pub.publishCode(t, &paho.Publish{Topic: "st/x", QoS: 1, Payload: []byte(fmt.Sprint(i))}))
		longest = max(longest, time.Since(start))
		require.Equal(t, fmt.Sprint(i), string(fast.next(t).Payload), "the draining subscriber gets every message")
	}
	st := s.Stats()
	require.Equal(t, uint64(1), st.BackpressureTimeouts, "one wait per stall, not one per message")
	require.Equal(t, uint64(n-2-3), st.Dropped["queue_full"], "window 2 + queue 3 kept, the rest dropped and counted")
	require.GreaterOrEqual(t, longest, bound, "the publisher did wait for the stalled subscriber")
	t.Logf("longest publish %v (bound %v)", longest, bound)

	// Progress (an acknowledgement) ends the stall.
	p := stalled.readPublish()
	stalled.ack(packet.TypePuback, p.PacketID)
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Inflight == 2 }, "the ack refilled the window")
}

// With back-pressure off, a full queue drops at once.
func TestBackpressure_off(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		o.MaxInflight = 1
		o.MaxQueuedMessages = 1
		o.BackpressureTimeout = -1
	})
	stalled, _ := connectRaw(t, addr, "stalled", nil)
	stalled.subscribe(1, packet.Subscription{Filter: "off/#", QoS: 1})
	pub := connectV5(t, addr, "pub", nil)
	for i := range 5 {
		pub.publish(t, &paho.Publish{Topic: "off/x", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	st := s.Stats()
	require.Zero(t, st.BackpressureWaits)
	require.Equal(t, uint64(3), st.Dropped["queue_full"])
}
