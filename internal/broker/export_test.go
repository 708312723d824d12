package broker

// WaitLineForTest reports, for the session of clientID, how many
// publishers wait for room in its queue, and whether one waits although
// the session would let it in now (the queue is down to half its limits,
// the first waiter's message fits, and no pass given to a publisher let in
// before is outstanding, or the queue is empty): a wake-up lost.
func (s *Server) WaitLineForTest(clientID string) (waiting int, lost bool) {
	ss := s.session(clientID)
	if ss == nil {
		return 0, false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.rare == nil {
		return 0, false
	}
	for w := ss.rare.lineHead; w != nil; w = w.next {
		waiting++
	}
	head := ss.rare.lineHead
	lost = head != nil && ss.conn != nil && ss.roomyLocked() && !ss.queueFullLocked(head.d.m) &&
		(ss.rare.passesOut == 0 || ss.queue.len() == 0)
	return waiting, lost
}

// IdleHandshakersForTest is how many handshake goroutines wait for a
// connection to serve (handshake.go).
func (s *Server) IdleHandshakersForTest() int { return int(s.idleShakers.Load()) }

// GoneReleasedForTest is how many released sockets were found closed by
// their peer when woken, and ended without being attached (park_release.go).
func (s *Server) GoneReleasedForTest() int64 { return s.stats.goneReleased.Load() }

// DeferredWritesForTest is how many writes of hot connections were left to
// a timer (write_coalesce.go).
func (s *Server) DeferredWritesForTest() int64 { return s.stats.deferredWrites.Load() }
