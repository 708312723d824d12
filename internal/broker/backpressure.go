package broker

import "github.com/iothub-dev/iothub/msg"

// Back-pressure before loss.
//
// A message from a client that finds the queue of a connected subscriber
// full (QoS 1/2: the inflight window and the session queue; QoS 0: the
// connection's pending writes) does not drop anything at once: the
// publisher's read goroutine waits, holding no lock, until the subscriber
// makes room or the publisher's allowance (mqtt.backpressure_timeout) is
// spent. Meanwhile its socket is not read and its PUBACK waits, which slows
// the device causing the load to the pace of the subscriber. A subscriber
// that makes no room for a whole allowance is marked stalled: later
// messages for it take the queue policy at once, without waiting, until it
// shows progress again (an acknowledgement, or its socket taking bytes).
// So a stalled subscriber holds each publisher at most once per stall, and
// never longer than the bound.
//
// Publishers waiting for room in a session's queue (QoS 1/2) stand in one
// line, in arrival order (pubWait.next). When the queue is back to half its
// limits, the session itself places the waiting messages, from the head of
// the line, and wakes each publisher whose message it placed with passes
// for a batch of its next messages (admitLocked): the free room is shared
// among the waiting, and as many are woken as it takes. A woken publisher
// does not come back for the session's lock (which the subscriber's
// acknowledgements need), no publisher is woken for room another takes
// first, and each wake-up moves a batch, not one message. While anyone is
// in the line, a newcomer without passes joins its end, so that no
// publisher is starved into its bound by others taking the room. QoS 0
// waits on the subscriber's connection (its pending writes) and is woken
// when the writer takes them.

// waitRoom waits, in the session's line, until the session placed w's
// message (placed: st is what became of it), turned w away (the retry sees
// why), or w's allowance is spent: then the session is marked stalled, so
// that the retry takes the queue policy.
func (ss *Session) waitRoom(w *pubWait) (st deliverStatus, placed bool) {
	s := ss.s
	s.stats.backpressureWaits.Add(1)
	if w.wait(w.ready) {
		return w.st, w.placed // the send on ready orders these reads
	}
	ss.mu.Lock()
	if !w.queued { // placed or turned away as the bound ran out
		ss.mu.Unlock()
		<-w.ready
		return w.st, w.placed
	}
	ss.leaveLineLocked(w)
	ss.rareLocked().stalled = true
	ss.mu.Unlock()
	s.stats.backpressureTimeouts.Add(1)
	s.logLimited(&s.stallLog, "subscriber stalled: a publisher waited the whole back-pressure bound (mqtt.backpressure_timeout); its messages now take the queue policy",
		"client_id", ss.id, "bound", w.bound)
	return 0, false
}

// waitRoom0 waits for room in the connection's pending writes (QoS 0); when
// the allowance is spent the connection is marked stalled.
func (ss *Session) waitRoom0(room <-chan struct{}, w *pubWait) {
	s := ss.s
	s.stats.backpressureWaits.Add(1)
	if w.wait(room) {
		return
	}
	s.stats.backpressureTimeouts.Add(1)
	s.logLimited(&s.stallLog, "subscriber stalled: a publisher waited the whole back-pressure bound (mqtt.backpressure_timeout); its messages now take the queue policy",
		"client_id", ss.id, "bound", w.bound)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if c := ss.conn; c != nil {
		c.outMu.Lock()
		c.stalled = true
		c.outMu.Unlock()
	}
}

// joinLineLocked puts w, waiting to deliver d, at the end of the line.
func (ss *Session) joinLineLocked(d delivery, w *pubWait) {
	r := ss.rareLocked()
	w.d, w.next, w.queued, w.placed = d, nil, true, false
	if r.lineTail == nil {
		r.lineHead = w
	} else {
		r.lineTail.next = w
	}
	r.lineTail = w
	r.lineLen++
}

// leaveLineLocked takes w out of the line (its bound ran out).
func (ss *Session) leaveLineLocked(w *pubWait) {
	r := ss.rare
	var prev *pubWait
	for x := r.lineHead; x != nil; prev, x = x, x.next {
		if x != w {
			continue
		}
		if prev == nil {
			r.lineHead = x.next
		} else {
			prev.next = x.next
		}
		if r.lineTail == x {
			r.lineTail = prev
		}
		r.lineLen--
		break
	}
	w.next, w.queued, w.d = nil, false, delivery{}
	if r.lineHead == nil {
		ss.endPassesLocked()
	}
}

// popLineLocked takes the head of the line out and wakes it, placed (st
// set) or turned away.
func (ss *Session) popLineLocked(placed bool, st deliverStatus) {
	r := ss.rare
	w := r.lineHead
	r.lineHead = w.next
	r.lineLen--
	if r.lineHead == nil {
		r.lineTail = nil
	}
	w.next, w.queued, w.d = nil, false, delivery{}
	w.placed, w.st = placed, st
	w.ready <- struct{}{} // never blocks: one send per stay in the line
}

// lineLocked reports whether publishers wait for room.
func (ss *Session) lineLocked() bool { return ss.rare != nil && ss.rare.lineHead != nil }

// roomyLocked reports whether the queue is down to half its limits, the
// level at which waiting publishers are let in.
func (ss *Session) roomyLocked() bool {
	o := &ss.s.opts
	q := &ss.queue
	if ss.diskModeLocked() { // queue_disk.go
		_, b := ss.backlogLocked()
		return b <= o.MaxBacklogBytes/2
	}
	return q.len() <= ss.slowAtLocked()/2 && (o.MaxQueuedBytes <= 0 || q.bytes <= o.MaxQueuedBytes/2)
}

// slowAtLocked is the queue length at which publishers wait for room: the
// queue's limit, or Options.BackpressureQueue while the subscriber is
// connected, keeps up (not stalled) and its queue is in memory.
func (ss *Session) slowAtLocked() int {
	o := &ss.s.opts
	if n := o.BackpressureQueue; n > 0 && n < o.MaxQueuedMessages && ss.conn != nil && !ss.stalledLocked() && !ss.diskModeLocked() {
		return n
	}
	return o.MaxQueuedMessages
}

// noRoomLocked reports whether a waiting publisher's message m must go on
// waiting: the queue is full, or as long as slowAtLocked.
func (ss *Session) noRoomLocked(m *msg.Message) bool {
	return ss.queueFullLocked(m) || ss.queue.len() >= ss.slowAtLocked()
}

// minBatch is the fewest messages a publisher let in from the line may put
// in the queue before the others waiting (when that much room is free).
const minBatch = 64

// mayEnterLocked reports whether a message from w's publisher goes into
// the queue now: the queue has room for it and nobody waits, or its
// publisher holds a pass (it was let in from the line with a batch).
func (ss *Session) mayEnterLocked(m *msg.Message, w *pubWait) bool {
	if ss.noRoomLocked(m) {
		return false
	}
	if !ss.lineLocked() {
		return true
	}
	r := ss.rare
	n := r.passes[w.self]
	if n == 0 {
		return false
	}
	if n == 1 {
		delete(r.passes, w.self)
	} else {
		r.passes[w.self] = n - 1
	}
	r.passesOut--
	return true
}

// admitLocked lets publishers in from the head of the line once the queue
// is down to half its limits: it places each one's waiting message itself
// and wakes it with passes for a batch of its next messages, the free room
// shared among those waiting (at least minBatch each), as many publishers
// as the room takes. Called on every acknowledgement. Passes left unused
// lapse once the queue emptied or half of it was acknowledged since they
// were given, so that a publisher that had no more to send holds nobody.
func (ss *Session) admitLocked() {
	if !ss.lineLocked() || ss.conn == nil {
		return
	}
	r := ss.rare
	r.passAcks++
	if !ss.roomyLocked() {
		return
	}
	o := &ss.s.opts
	if r.passesOut > 0 && (ss.queue.len() == 0 || r.passAcks >= max(o.MaxQueuedMessages/2, 1)) {
		clear(r.passes)
		r.passesOut = 0
	}
	free := ss.freeLocked() - r.passesOut
	share := max(free/r.lineLen, minBatch)
	for free > 0 && r.lineHead != nil {
		w := r.lineHead
		if ss.noRoomLocked(w.d.m) {
			break
		}
		grant, self := min(share, free), w.self
		ss.popLineLocked(true, ss.placeLocked(w.d))
		free -= grant
		r.passAcks = 0
		if grant > 1 && r.lineHead != nil {
			if r.passes == nil {
				r.passes = make(map[*Session]int)
			}
			r.passes[self] += grant - 1
			r.passesOut += grant - 1
		}
	}
	if r.lineHead == nil {
		ss.endPassesLocked()
	}
}

// freeLocked is the room left in the queue, in messages (at least one:
// whether a message fits is queueFullLocked's to say; a backlog on disk is
// bounded in bytes only).
func (ss *Session) freeLocked() int {
	o := &ss.s.opts
	if ss.diskModeLocked() { // queue_disk.go
		return max(o.MaxQueuedMessages, 1)
	}
	return max(ss.slowAtLocked()-ss.queue.len(), 1)
}

// endPassesLocked forgets the passes once nobody waits: they only order
// publishers against a line.
func (ss *Session) endPassesLocked() {
	if r := ss.rare; r != nil {
		r.passes, r.passesOut = nil, 0
	}
}

// placeLocked delivers d of a waiting publisher to the connected session:
// sent when the window has room and nothing is queued, queued otherwise.
func (ss *Session) placeLocked(d delivery) deliverStatus {
	if d.m.Expired(ss.s.clock.Now()) {
		ss.s.drop(ss, d, DropExpired)
		return refused
	}
	if len(ss.inflight) < ss.window && ss.queueEmptyLocked() {
		ss.sendLocked(d)
		return accepted
	}
	return ss.enqueueLocked(d)
}

// wakeLocked turns away every publisher waiting for room in the session
// (the subscriber went away, or the session changed): they try again and
// see which.
func (ss *Session) wakeLocked() {
	for ss.lineLocked() {
		ss.popLineLocked(false, 0)
	}
	ss.endPassesLocked()
}

// pushQoS0 queues a QoS 0 delivery as push does. When the pending writes
// are full and canWait is set (and the connection is not stalled), it
// queues nothing and returns the channel closed when the writer takes the
// queue.
func (c *conn) pushQoS0(it outItem, canWait bool) (ok, start bool, room <-chan struct{}) {
	c.outMu.Lock()
	if canWait && !c.closing && !c.stalled && c.pendingFullLocked(&it) {
		// Full means something is queued: c.wq is set.
		if c.wq.room == nil {
			c.wq.room = make(chan struct{})
		}
		room = c.wq.room
		c.outMu.Unlock()
		return false, false, room
	}
	c.outMu.Unlock()
	ok, start = c.push(it)
	return ok, start, nil
}

// pendingFullLocked reports whether a QoS 0 delivery finds the pending
// writes full: max_pending_writes packets, max_pending_write_bytes bytes,
// or the global memory budget spent. An empty queue always takes one.
func (c *conn) pendingFullLocked(it *outItem) bool {
	if c.wq == nil || len(c.wq.q) == 0 {
		return false
	}
	o := &c.s.opts
	return len(c.wq.q) >= o.MaxPendingWrites ||
		o.MaxPendingWriteBytes > 0 && c.outBytes+deliverySize(it.d.m) > o.MaxPendingWriteBytes ||
		c.s.mem.over()
}

// takeQueueLocked hands the queue to the writer: its bytes leave the
// budgets, the connection is no longer stalled (its socket takes bytes),
// and publishers waiting for room go on.
func (c *conn) takeQueueLocked() []outItem {
	if c.outBytes != 0 {
		c.s.mem.add(-c.outBytes)
		c.outBytes = 0
	}
	c.stalled = false
	wq := c.wq
	if wq == nil {
		return nil
	}
	items := wq.q
	wq.q, wq.spare = wq.spare, nil
	if wq.room != nil {
		close(wq.room)
		wq.room = nil
	}
	return items
}
