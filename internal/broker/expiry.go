package broker

import "time"

// expiryLoop removes expired messages from session queues every
// ExpirySweepInterval until Shutdown, so that messages whose MQTT 5 Message
// Expiry Interval passed do not wait in memory and on disk for a client
// that stays away.
func (s *Server) expiryLoop() {
	t := time.NewTicker(s.opts.ExpirySweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			if n := s.sweepExpired(s.clock.Now()); n > 0 {
				s.log.Debug("expired messages removed from session queues", "messages", n)
			}
		}
	}
}

// sweepExpired drops the expired messages of every session's queue (counted
// as dropped, reason "expired", and deleted from the store) and returns how
// many it dropped. It holds each session's lock only while filtering that
// session's queue, so traffic is never paused as a whole.
func (s *Server) sweepExpired(now time.Time) int {
	s.mu.Lock()
	list := make([]*Session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	n := 0
	for _, ss := range list {
		ss.mu.Lock()
		if !ss.removed && ss.queue.len() > 0 {
			n += ss.dropExpiredLocked(now)
		}
		if !ss.removed {
			n += ss.sweepDiskLocked(now) // queue_disk.go
		}
		ss.mu.Unlock()
	}
	return n
}

// dropExpiredLocked removes the expired deliveries from the queue, keeping
// the order of the others.
func (ss *Session) dropExpiredLocked(now time.Time) int {
	q := &ss.queue
	kept := q.items[:q.head]
	dropped := 0
	for i := q.head; i < len(q.items); i++ {
		d := q.items[i]
		if !d.m.Expired(now) {
			kept = append(kept, d)
			continue
		}
		dropped++
		ss.queueAdded(d, -1)
		ss.forgetLocked(&d)
		ss.s.drop(ss, d, DropExpired)
	}
	clear(q.items[len(kept):])
	q.items = kept
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return dropped
}
