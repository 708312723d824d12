package broker

import (
	"sync/atomic"

	"github.com/iothub-dev/iothub/msg"
)

// Deduplicator drops resends of forwarded messages: an edge hub's upstream
// link numbers what it forwards (user properties), and sends again what
// the centre did not acknowledge, which may already have been routed. It
// is consulted only for PUBLISH packets of network clients that carry user
// properties, so it costs nothing on other traffic.
type Deduplicator interface {
	// Duplicate reports whether m was already routed or is being routed
	// (then it is acknowledged and dropped), and otherwise records that
	// it is being routed. It runs on the publisher's read goroutine: it
	// must be quick and safe for concurrent use. m must not be modified.
	Duplicate(m *msg.Message) bool
	// Routed is called once m, for which Duplicate returned false, was
	// routed: what routing stored is now in the committer's hands, so a
	// durable record of m may follow it. A non-nil key is written to the
	// store with value, in the same atomic batch as m's own store writes
	// (the commit is held open while m is routed).
	Routed(m *msg.Message) (key, value []byte)
}

// dedupHook holds the server's Deduplicator.
type dedupHook struct {
	d    atomic.Pointer[Deduplicator]
	hits atomic.Uint64
}

// SetDeduplicator installs d (nil removes it).
func (s *Server) SetDeduplicator(d Deduplicator) {
	if d == nil {
		s.dedup.d.Store(nil)
		return
	}
	s.dedup.d.Store(&d)
}

// dedupBegin asks the Deduplicator whether an inbound message with user
// properties is a resend to drop. When it is not, it returns the
// Deduplicator to tell once the message is routed (nil: none) and, with a
// store, holds the commit open (as for QoS 2) until end is called, so
// that the message's store writes and its mark (a Stager) fall in the
// same commit.
func (s *Server) dedupBegin(m *msg.Message, qos byte) (dup bool, d Deduplicator, end func()) {
	p := s.dedup.d.Load()
	if p == nil {
		return false, nil, func() {}
	}
	if (*p).Duplicate(m) {
		s.dedup.hits.Add(1)
		return true, nil, func() {}
	}
	end = func() {}
	if pst := s.pstore(); pst != nil && qos == 1 { // QoS 2 holds it already
		end = pst.begin()
	}
	return false, *p, end
}
