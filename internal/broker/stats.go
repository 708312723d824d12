package broker

import (
	"sync/atomic"
	"time"
)

// DropReason says why a message was not delivered to a subscriber.
type DropReason uint8

// Reasons a message is dropped; each has its own counter.
const (
	DropQueueFull DropReason = iota
	DropQoS0Offline
	DropWriteQueueFull
	DropExpired
	DropTooLarge
	DropNoLocal // not counted as a drop by MQTT, kept for completeness
	dropReasons
)

var dropNames = [dropReasons]string{"queue_full", "qos0_offline", "write_queue_full", "expired", "packet_too_large", "no_local"}

// String returns the reason in snake_case, as used in events and metrics.
func (r DropReason) String() string {
	if r < dropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// counters are the broker's running totals, updated with atomics on the hot
// path; Stats takes a snapshot.
type counters struct {
	connections      atomic.Int64
	connectsTotal    atomic.Uint64
	sessions         atomic.Int64
	subscriptions    atomic.Int64
	messagesIn       atomic.Uint64
	messagesOut      atomic.Uint64
	bytesIn          atomic.Uint64
	bytesOut         atomic.Uint64
	inflight         atomic.Int64
	queued           atomic.Int64
	dropped          [dropReasons]atomic.Uint64
	eventsDropped    atomic.Uint64
	malformedPackets atomic.Uint64
	protocolErrors   atomic.Uint64
}

// Stats is a snapshot of the broker's counters.
type Stats struct {
	Uptime           time.Duration
	Connections      int64
	ConnectsTotal    uint64
	Sessions         int64
	Subscriptions    int64
	Retained         int
	MessagesIn       uint64
	MessagesOut      uint64
	BytesIn          uint64
	BytesOut         uint64
	Inflight         int64
	Queued           int64
	Dropped          map[string]uint64
	EventsDropped    uint64
	MalformedPackets uint64
	ProtocolErrors   uint64
}

// Stats returns a snapshot of the broker's counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	st := Stats{
		Uptime:           time.Since(s.started),
		Connections:      c.connections.Load(),
		ConnectsTotal:    c.connectsTotal.Load(),
		Sessions:         c.sessions.Load(),
		Subscriptions:    c.subscriptions.Load(),
		Retained:         s.retained.Len(),
		MessagesIn:       c.messagesIn.Load(),
		MessagesOut:      c.messagesOut.Load(),
		BytesIn:          c.bytesIn.Load(),
		BytesOut:         c.bytesOut.Load(),
		Inflight:         c.inflight.Load(),
		Queued:           c.queued.Load(),
		Dropped:          make(map[string]uint64, dropReasons),
		EventsDropped:    c.eventsDropped.Load(),
		MalformedPackets: c.malformedPackets.Load(),
		ProtocolErrors:   c.protocolErrors.Load(),
	}
	for r := DropReason(0); r < dropReasons; r++ {
		st.Dropped[r.String()] = c.dropped[r].Load()
	}
	return st
}
