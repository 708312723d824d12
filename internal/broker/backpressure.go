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
// Waiters are woken together when a queue falls to half its limits (not at
// every free slot), so that many publishers waiting on one subscriber do
// not all wake for one slot and each wake-up admits several messages; while
// some wait and the queue is above half, newcomers wait behind them, so
// that no publisher is starved into its bound by others taking the room.

// waitRoom waits for room for d in the session (or its connection), up to
// w's allowance; when the allowance is spent the session (or connection)
// is marked stalled, so that the retry takes the queue policy.
func (ss *Session) waitRoom(d delivery, room <-chan struct{}, w *pubWait) {
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
	if d.qos == 0 {
		if c := ss.conn; c != nil {
			c.outMu.Lock()
			c.stalled = true
			c.outMu.Unlock()
		}
		return
	}
	ss.rareLocked().stalled = true
}

// roomChanLocked returns the channel closed when the queue has room again.
func (ss *Session) roomChanLocked() <-chan struct{} {
	r := ss.rareLocked()
	if r.room == nil {
		r.room = make(chan struct{})
	}
	return r.room
}

// roomyLocked reports whether the queue is down to half its limits, the
// level at which waiting publishers are woken.
func (ss *Session) roomyLocked() bool {
	o := &ss.s.opts
	q := &ss.queue
	if ss.diskModeLocked() { // queue_disk.go
		_, b := ss.backlogLocked()
		return b <= o.MaxBacklogBytes/2
	}
	return q.len() <= o.MaxQueuedMessages/2 && (o.MaxQueuedBytes <= 0 || q.bytes <= o.MaxQueuedBytes/2)
}

// wakeLocked wakes every publisher waiting for room in the session (room
// came, or the subscriber went away: they retry and see which).
func (ss *Session) wakeLocked() {
	if r := ss.rare; r != nil && r.room != nil {
		close(r.room)
		r.room = nil
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
