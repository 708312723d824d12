package broker

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
// the line, as many as the queue then takes, and wakes each publisher whose
// message it placed: a woken publisher does not come back for the
// session's lock (which the subscriber's acknowledgements need), and no
// publisher is woken for room another takes first. While anyone is in the
// line, a newcomer joins its end, so that no publisher is starved into its
// bound by others taking the room. Waking at half (not at every free slot)
// lets each woken publisher's next messages in without waiting. QoS 0
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
		break
	}
	w.next, w.queued, w.d = nil, false, delivery{}
}

// popLineLocked takes the head of the line out and wakes it, placed (st
// set) or turned away.
func (ss *Session) popLineLocked(placed bool, st deliverStatus) {
	r := ss.rare
	w := r.lineHead
	r.lineHead = w.next
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
	return q.len() <= o.MaxQueuedMessages/2 && (o.MaxQueuedBytes <= 0 || q.bytes <= o.MaxQueuedBytes/2)
}

// admitLocked places the messages of the waiting publishers, from the head
// of the line, once the queue is down to half its limits, as many as the
// queue takes without dropping, and wakes their publishers.
func (ss *Session) admitLocked() {
	if !ss.lineLocked() || ss.conn == nil || !ss.roomyLocked() {
		return
	}
	for r := ss.rare; r.lineHead != nil; {
		d := r.lineHead.d
		if ss.queueFullLocked(d.m) {
			return
		}
		ss.popLineLocked(true, ss.placeLocked(d))
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
