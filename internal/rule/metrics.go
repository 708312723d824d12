package rule

import (
	"sync/atomic"
	"time"
)

// Metrics are one rule's counters since it was created or last updated.
type Metrics struct {
	// Matched counts events that matched FROM.
	Matched uint64 `json:"matched"`
	// Passed counts matched events that produced at least one output.
	Passed uint64 `json:"passed"`
	// Failed counts matched events whose evaluation failed (a type error,
	// a bad argument): no output.
	Failed uint64 `json:"failed"`
	// NoResult counts matched events for which WHERE was false (or
	// FOREACH produced nothing).
	NoResult uint64 `json:"no_result"`
	// WindowOutputs counts the outputs of the rule's windows (GROUP BY).
	WindowOutputs uint64 `json:"window_outputs"`
	// Dropped counts what the rule's state had no room for
	// (EngineOptions.MaxState): events left out of a window, buffered
	// events and remembered values forgotten.
	Dropped uint64 `json:"dropped"`
	// ActionsSuccess and ActionsFailed count action calls by result.
	ActionsSuccess uint64 `json:"actions_success"`
	ActionsFailed  uint64 `json:"actions_failed"`
	// Rate is matched events per second over the last RateWindow (filled
	// by the Runner; 0 from the Engine).
	Rate float64 `json:"rate"`
	// RateMax is the highest Rate seen.
	RateMax float64 `json:"rate_max"`
}

type counters struct {
	matched, passed, failed, noResult, actionsOK, actionsFailed atomic.Uint64
}

func (c *counters) snapshot() Metrics {
	return Metrics{
		Matched: c.matched.Load(), Passed: c.passed.Load(), Failed: c.failed.Load(),
		NoResult: c.noResult.Load(), ActionsSuccess: c.actionsOK.Load(), ActionsFailed: c.actionsFailed.Load(),
	}
}

// RateWindow is the window of Metrics.Rate.
const RateWindow = 10 * time.Second

// rateMeter turns a counter into a rate over RateWindow from samples taken
// once a second by the Runner.
type rateMeter struct {
	samples [11]sample
	n, next int
	max     float64
	dropped uint64 // Metrics.Dropped when last logged
}

type sample struct {
	at    time.Time
	count uint64
}

func (m *rateMeter) add(at time.Time, count uint64) {
	m.samples[m.next] = sample{at, count}
	m.next = (m.next + 1) % len(m.samples)
	m.n = min(m.n+1, len(m.samples))
	m.max = max(m.max, m.rate())
}

// rate is the count's growth per second between the oldest and newest
// samples.
func (m *rateMeter) rate() float64 {
	if m.n < 2 {
		return 0
	}
	newest := m.samples[(m.next-1+len(m.samples))%len(m.samples)]
	oldest := m.samples[(m.next-m.n+len(m.samples))%len(m.samples)]
	secs := newest.at.Sub(oldest.at).Seconds()
	if secs <= 0 || newest.count < oldest.count {
		return 0
	}
	return float64(newest.count-oldest.count) / secs
}
