package upstream

import (
	"time"
)

// EdgeStatus is the edge side of GET /api/v1/upstream.
type EdgeStatus struct {
	// Origin is this edge's name at the centre.
	Origin string `json:"origin"`
	// URL is the centre (without credentials).
	URL string `json:"url"`
	// Link is the connection's state.
	Link LinkStatus `json:"link"`
	// BacklogMessages and BacklogBytes are waiting to be sent, every
	// stream together; OldestBacklogAgeSeconds is the age of the oldest.
	BacklogMessages         int64   `json:"backlog_messages"`
	BacklogBytes            int64   `json:"backlog_bytes"`
	OldestBacklogAgeSeconds float64 `json:"oldest_backlog_age_seconds"`
	// Rate is the messages the centre acknowledged per second over the
	// last 10 seconds.
	Rate float64 `json:"rate"`
	// Sent counts messages the centre acknowledged; Resends those sent
	// again after a lost connection; Expired those older than their TTL;
	// Refused those the centre refused; Dropped those the queues gave up
	// (by reason).
	Sent    uint64            `json:"sent"`
	Resends uint64            `json:"resends"`
	Expired uint64            `json:"expired"`
	Refused uint64            `json:"refused"`
	Dropped map[string]uint64 `json:"dropped"`
	// Streams are the queues, highest priority first.
	Streams []StreamStatus `json:"streams"`
}

// StreamStatus is one stream's queue.
type StreamStatus struct {
	Name                    string            `json:"name"`
	Priority                int               `json:"priority"`
	Epoch                   string            `json:"epoch"`
	Forward                 []string          `json:"forward"`
	BacklogMessages         int64             `json:"backlog_messages"`
	BacklogBytes            int64             `json:"backlog_bytes"`
	OldestBacklogAgeSeconds float64           `json:"oldest_backlog_age_seconds"`
	Enqueued                uint64            `json:"enqueued"`
	Sent                    uint64            `json:"sent"`
	Resends                 uint64            `json:"resends"`
	Expired                 uint64            `json:"expired"`
	Refused                 uint64            `json:"refused"`
	Dropped                 map[string]uint64 `json:"dropped"`
	// Rate is the messages sent per second over the last 10 seconds.
	Rate float64 `json:"rate"`
}

// Status returns the edge's state and counters.
func (e *Edge) Status() EdgeStatus {
	s := EdgeStatus{Origin: e.origin, URL: e.link.o.URL.Redacted(), Link: e.link.Status(), Dropped: map[string]uint64{}}
	now := time.Now()
	for _, st := range e.order {
		ss := st.status(now)
		for _, f := range e.fwd {
			if f.st == st {
				ss.Forward = append(ss.Forward, f.filter)
			}
		}
		s.Streams = append(s.Streams, ss)
		s.BacklogMessages += ss.BacklogMessages
		s.BacklogBytes += ss.BacklogBytes
		s.OldestBacklogAgeSeconds = max(s.OldestBacklogAgeSeconds, ss.OldestBacklogAgeSeconds)
		s.Sent += ss.Sent
		s.Rate += ss.Rate
		s.Resends += ss.Resends
		s.Expired += ss.Expired
		s.Refused += ss.Refused
		for k, v := range ss.Dropped {
			s.Dropped[k] += v
		}
	}
	return s
}

func (st *stream) status(now time.Time) StreamStatus {
	m := st.runner.Metrics()
	k := st.sink
	ss := StreamStatus{Name: st.name, Priority: st.priority, Epoch: st.epoch, BacklogMessages: m.Queued + m.InFlight,
		BacklogBytes: m.BufferBytes, Enqueued: m.Matched, Sent: k.acked.Load(), Resends: max(k.resent.Load(), m.Retried),
		Expired: k.expired.Load(), Refused: k.refused.Load(), Dropped: m.Dropped, Rate: m.Rate}
	if ss.BacklogMessages > 0 {
		if t := k.oldest.Load(); t > 0 {
			ss.OldestBacklogAgeSeconds = max(0, now.Sub(time.Unix(0, t)).Seconds())
		}
	} else {
		k.oldest.Store(0)
	}
	return ss
}

// CentreStatus is the centre side of GET /api/v1/upstream.
type CentreStatus struct {
	// Dedup counts the resends of edges that were dropped.
	Dedup DedupStats `json:"dedup"`
	// Relay counts commands relayed to edges (null when off).
	Relay *RelayStats `json:"relay"`
}

// Status is GET /api/v1/upstream: this hub as an edge (null when it has
// no upstream) and as a centre.
type Status struct {
	Edge   *EdgeStatus  `json:"edge"`
	Centre CentreStatus `json:"centre"`
}
