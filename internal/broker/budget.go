package broker

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/logging"

	"github.com/iothub-dev/iothub/msg"
)

// Memory budgets.
//
// The hub bounds in bytes, not only in packets, what it holds for messages
// on their way: each session's queue (mqtt.max_queued_bytes), each
// connection's pending writes (mqtt.max_pending_write_bytes) and, over all
// of them plus the partial inbound packets larger than a read buffer, one
// global budget (mqtt.max_buffered_bytes). Over the global budget the hub
// slows and refuses new work before the machine runs out: a publisher
// waits (up to the back-pressure bound) before its message is routed, new
// connections are refused (Server busy), a session queue takes a new
// message only by dropping an older one (counted as memory_limit), and a
// connection that starts a large packet is closed (Quota exceeded).

// deliveryOverhead approximates what one queued or pending delivery costs
// beyond its topic and payload (the queue slot and a share of the message).
const deliveryOverhead = 96

// deliverySize is what a delivery counts against the byte budgets.
func deliverySize(m *msg.Message) int64 {
	return int64(len(m.Topic)+len(m.Payload)) + deliveryOverhead
}

// memBudget counts the bytes held for messages on their way against the
// global limit, and wakes publishers waiting for it to fall.
type memBudget struct {
	used  atomic.Int64
	limit int64 // <= 0: no limit

	mu      sync.Mutex
	waiting atomic.Bool
	room    chan struct{} // closed when used falls below the low mark
}

// add counts n more bytes (n < 0: released).
func (b *memBudget) add(n int64) {
	used := b.used.Add(n)
	if n < 0 && b.waiting.Load() && used <= b.low() {
		b.mu.Lock()
		if b.room != nil {
			close(b.room)
			b.room = nil
		}
		b.waiting.Store(false)
		b.mu.Unlock()
	}
}

// tryAdd counts n more bytes unless that takes the budget over its limit.
func (b *memBudget) tryAdd(n int64) bool {
	if b.limit <= 0 {
		b.used.Add(n)
		return true
	}
	for {
		u := b.used.Load()
		if u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// over reports whether the budget is spent.
func (b *memBudget) over() bool { return b.limit > 0 && b.used.Load() >= b.limit }

// low is the level under which waiting publishers go on (90% of the limit),
// so that they do not wake for every byte released.
func (b *memBudget) low() int64 { return b.limit - b.limit/10 }

// roomChan returns a channel closed once the budget has room again, or nil
// when it has room now.
func (b *memBudget) roomChan() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.over() {
		return nil
	}
	if b.room == nil {
		b.room = make(chan struct{})
	}
	b.waiting.Store(true)
	return b.room
}

// pubWait is one inbound message's back-pressure allowance: every wait for
// room, in any subscriber's queue or in the global budget, comes out of the
// same bound, so a publisher is never held longer than it. It is also the
// message's place in the line of publishers waiting for room in one
// session's queue (backpressure.go), and it is pooled: a hub under
// overload makes one per message.
type pubWait struct {
	// self is the publisher's own session: a client that receives what it
	// publishes makes room only by reading, which its waiting read loop
	// cannot do, so it never waits for itself.
	self     *Session
	bound    time.Duration
	deadline time.Time
	timer    *time.Timer

	// The place in a session's line of waiters, guarded by that
	// session's mu: d is the delivery waiting, next the waiter behind,
	// queued is set while in the line. When the session gives the room,
	// it places d itself (placed, with st what became of it) and sends on
	// ready; when it turns everyone away (the subscriber left, or the
	// session changed) it sends without placing and the publisher tries
	// again.
	d      delivery
	next   *pubWait
	ready  chan struct{}
	st     deliverStatus
	queued bool
	placed bool
}

var pubWaitPool = sync.Pool{New: func() any { return &pubWait{ready: make(chan struct{}, 1)} }}

// wait blocks until room is closed (true) or the bound is spent (false).
func (w *pubWait) wait(room <-chan struct{}) bool {
	now := time.Now()
	if w.deadline.IsZero() {
		w.deadline = now.Add(w.bound)
	}
	left := w.deadline.Sub(now)
	if left <= 0 {
		return false
	}
	if w.timer == nil {
		w.timer = time.NewTimer(left)
	} else {
		w.timer.Reset(left)
	}
	select {
	case <-room:
		w.timer.Stop()
		return true
	case <-w.timer.C:
		return false
	}
}

// done returns the allowance to the pool (its timer stopped).
func (w *pubWait) done() {
	if w.timer != nil {
		w.timer.Stop()
	}
	timer, ready := w.timer, w.ready
	*w = pubWait{timer: timer, ready: ready}
	pubWaitPool.Put(w)
}

// newPubWait returns the back-pressure allowance for one message of c, or
// nil when it must not wait (back-pressure off, or a QoS 2 publish holding
// the store's transaction lock, which the committer needs).
func (c *conn) newPubWait(qos byte) *pubWait {
	bound := c.s.opts.BackpressureTimeout
	if bound <= 0 || qos == 2 && c.s.pstore() != nil {
		return nil
	}
	w := pubWaitPool.Get().(*pubWait)
	w.self, w.bound = c.sess, bound
	return w
}

// waitBudget holds the publisher, up to its bound, while the global budget
// is spent.
func (s *Server) waitBudget(w *pubWait) {
	if w == nil || !s.mem.over() {
		return
	}
	s.stats.backpressureWaits.Add(1)
	for {
		room := s.mem.roomChan()
		if room == nil {
			return
		}
		if !w.wait(room) {
			s.stats.backpressureTimeouts.Add(1)
			s.logLimited(&s.budgetLog, "memory budget spent (mqtt.max_buffered_bytes): routing a publisher's message after waiting the back-pressure bound",
				"used_bytes", s.mem.used.Load(), "limit_bytes", s.mem.limit)
			return
		}
	}
}

// limitedLog throttles one kind of warning to a line per logEvery (the
// others go to debug), with the number suppressed since the last one: the
// one rate-limited logger of the hub, logging.Limiter. Server.New
// sets the interval.
type limitedLog = logging.Limiter

const logEvery = 10 * time.Second

// logLimited logs text at Warn level at most once per logEvery for l.
func (s *Server) logLimited(l *limitedLog, text string, args ...any) {
	s.logLimitedAt(slog.LevelWarn, l, text, args...)
}

// logLimitedAt is logLimited at the given level.
func (s *Server) logLimitedAt(level slog.Level, l *limitedLog, text string, args ...any) {
	l.Log(s.log, level, text, args...)
}
