package broker

import (
	"time"
)

// Write coalescing.
//
// At device rates a connection that many devices publish to (a backend, a
// rule's republish target, a dashboard) would be written to once per
// message, and each write(2) costs the whole TCP send path (3-4 µs here,
// on loopback the receiver's side too): more than everything else the hub
// does for the message. A plain TCP connection whose previous write
// started less than Options.WriteCoalesce ago is hot: the goroutine that
// queued a delivery for it does not write at once but leaves the writer's
// turn to a timer, which writes everything queued by then when the window
// since that previous write has passed. A hot connection so gets at most
// about one write per window, and a connection written to less often than
// once a window is never delayed. Acknowledgements and control packets
// (CONNACK, SUBACK, PINGRESP...) are never deferred: a client waits for
// them; a run of acknowledgements is gathered by holdStart instead.
// Measured at 100 publishers x 500 msg/s ->
// 1 subscriber: write(2) calls per delivery 0.77 -> 0.15, deliveries per
// CPU-second against Mosquitto's 0.99x -> 1.14x (docs/benchmarks.md).
//
// The timer is Go's: while the hub is busy it fires within the window;
// in an otherwise idle process Go rounds a wait under a millisecond up to
// one (measured: 100 µs timers fired after 1.06-1.18 ms), so the last
// packet of a burst may wait up to that. A timerfd in the poller fires on
// time but cost more than it saved (each tick a wake-up and a read(2)):
// measured level with no coalescing.
//
// A deferred write that finds one packet only (nothing came while it
// waited: a peer that waits for that packet before sending the next, like
// a client that publishes to itself and waits for the echo) turns
// coalescing off for the connection's next coolingWrites writes, so a
// request-response peer is delayed once in that many exchanges.

// coolingWrites is how many writes a connection makes at once, after a
// deferred write found a single packet, before it may be deferred again.
const coolingWrites = 64

// monoMicros is the monotonic clock in microseconds, wrapping every 71
// minutes: only differences under a window are compared.
func monoMicros() uint32 { return uint32(time.Since(monoBase) / time.Microsecond) }

// deferWrite leaves the writer's turn that startWriter took to the write
// queue's timer when c is hot; false when c writes now. Called by the
// turn's holder, with no lock held.
func (c *conn) deferWrite() bool {
	window := c.s.opts.WriteCoalesce
	if window <= 0 || !c.park.plain {
		return false
	}
	now := monoMicros()
	since := now - c.flushedAt
	hot := since < uint32(window/time.Microsecond)
	if c.coolLeft > 0 {
		c.coolLeft--
		hot = false
	}
	c.outMu.Lock()
	wq := c.wq
	delivery := wq != nil && len(wq.q) > 0 && wq.q[0].d.m != nil
	c.outMu.Unlock()
	if !hot || !delivery {
		c.flushedAt = now
		return false
	}
	wait := window - time.Duration(since)*time.Microsecond
	wq.owner = c
	if wq.timer == nil {
		wq.timer = time.AfterFunc(wait, wq.writeDeferred)
	} else {
		wq.timer.Reset(wait)
	}
	c.flushedAt += uint32(window / time.Microsecond)
	return true
}

// writeDeferred is the timer's write of what its connection queued while
// it waited, as startWriter would have written it.
func (wq *writeQueue) writeDeferred() {
	c := wq.owner
	wq.owner = nil // a queue back in its pool keeps no connection
	c.outMu.Lock()
	single := len(wq.q) <= 1
	c.outMu.Unlock()
	if single {
		c.coolLeft = coolingWrites
	}
	c.s.stats.deferredWrites.Add(1)
	if !c.writeInline() {
		c.writeLoop()
	}
}
