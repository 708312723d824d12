package broker

import (
	"sync"
	"time"
)

// Keep-alive deadlines of parked connections.
//
// A parked connection must be woken when its keep alive runs out (1.5 ×
// keep alive without a packet). A runtime timer per parked connection
// costs ~120 bytes each (the timer and its pointer), more than a tenth of
// what an idle connection is meant to cost, for a deadline that only
// needs no better than a fraction of a second. kaWheel keeps them instead
// in a wheel of kaTick slots, each a circular doubly-linked list threaded
// through the connections themselves (conn.kaPrev, kaNext), and one
// goroutine wakes, every kaTick, the connections of the slots whose
// deadline passed. A connection is woken at most about kaTick after its
// deadline, never before it (the woken read loop closes it as a
// keep-alive timeout).

// kaSlots is the number of slots (256 s); a deadline further away than
// that waits in its slot for more turns of the wheel.
const kaSlots = 1024

// kaTick is the wheel's step.
const kaTick = 250 * time.Millisecond

// kaWheel holds the keep-alive deadlines of parked connections.
type kaWheel struct {
	// base is the wheel's origin: steps are counted from it on the
	// monotonic clock, so wall-clock jumps move no deadline.
	base  time.Time
	mu    sync.Mutex
	slots [kaSlots]*conn // the first connection of each slot's list
	n     int            // connections in the wheel
	done  int64          // the last step whose slot was expired
}

func newKAWheel(now time.Time) *kaWheel {
	return &kaWheel{base: now}
}

// step is the number of whole kaTicks from base to t.
func (w *kaWheel) step(t time.Time) int64 { return int64(t.Sub(w.base) / kaTick) }

// slotOf is the slot of a deadline: the step it falls in, rounded up, so
// that the slot's turn comes at or after the deadline.
func (w *kaWheel) slotOf(deadline time.Time) int {
	st := w.step(deadline)
	if w.base.Add(time.Duration(st) * kaTick).Before(deadline) {
		st++
	}
	return int(st % kaSlots)
}

// fits reports whether a deadline is far enough from now (two steps) for
// the wheel to be sure to see it; a connection whose keep alive runs out
// sooner does not park (the read deadline closes it).
func (w *kaWheel) fits(deadline, now time.Time) bool {
	return deadline.Sub(now) >= 2*kaTick
}

// add puts c in the slot of its keep-alive deadline, which fits. Called
// with c.parkMu held, c not in the wheel.
func (w *kaWheel) add(c *conn) {
	i := w.slotOf(c.park.kaDeadline())
	w.mu.Lock()
	defer w.mu.Unlock()
	if head := w.slots[i]; head == nil {
		c.kaPrev, c.kaNext = c, c
		w.slots[i] = c
	} else {
		tail := head.kaPrev
		c.kaPrev, c.kaNext = tail, head
		tail.kaNext, head.kaPrev = c, c
	}
	w.n++
}

// remove takes c out of the wheel if it is in it. Called with c.parkMu
// held; kaDeadline is the one c was added with.
func (w *kaWheel) remove(c *conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.unlinkLocked(c, w.slotOf(c.park.kaDeadline()))
}

func (w *kaWheel) unlinkLocked(c *conn, slot int) {
	if c.kaNext == nil {
		return // not in the wheel (taken by expire)
	}
	if c.kaNext == c {
		w.slots[slot] = nil
	} else {
		c.kaPrev.kaNext, c.kaNext.kaPrev = c.kaNext, c.kaPrev
		if w.slots[slot] == c {
			w.slots[slot] = c.kaNext
		}
	}
	c.kaPrev, c.kaNext = nil, nil
	w.n--
}

// expire takes out of the wheel the connections whose deadline passed by
// now, from the slots of the steps since the last call (at most one turn
// of the wheel), appending them to out.
func (w *kaWheel) expire(now time.Time, out []*conn) []*conn {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.step(now)
	from := max(w.done+1, last-kaSlots+1)
	for st := from; st <= last; st++ {
		out = w.expireSlotLocked(int(st%kaSlots), now, out)
	}
	w.done = max(w.done, last)
	return out
}

// expireSlotLocked walks one slot's list once: the connections due are
// taken out, the others (due on a later turn of the wheel) stay.
func (w *kaWheel) expireSlotLocked(slot int, now time.Time, out []*conn) []*conn {
	head := w.slots[slot]
	if head == nil {
		return out
	}
	c, last := head, head.kaPrev
	for {
		next := c.kaNext
		if !c.park.kaDeadline().After(now) {
			w.unlinkLocked(c, slot)
			out = append(out, c)
		}
		if c == last {
			return out
		}
		c = next
	}
}

// len is the number of connections in the wheel.
func (w *kaWheel) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// kaLoop wakes the parked connections whose keep alive ran out, once per
// kaTick, while the server has a poller, until Shutdown.
func (s *Server) kaLoop() {
	t := time.NewTicker(kaTick)
	defer t.Stop()
	var due []*conn
	for {
		select {
		case <-s.quit:
			return
		case now := <-t.C:
			due = s.kaWheel.expire(now, due[:0])
			for i, c := range due {
				due[i] = nil
				c.Wake()
			}
		}
	}
}
