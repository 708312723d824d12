package api

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The short history behind the dashboard's charts: one point every
// HistoryInterval, the last historyLen points (30 minutes), in memory, so
// that the Overview works without Prometheus.
const (
	// HistoryInterval is the time between two points of the history.
	HistoryInterval = 5 * time.Second
	historyLen      = 360
)

// historyPoint is one point: gauges as they were, counters as rates per
// second since the previous point.
type historyPoint struct {
	T      time.Time          `json:"t"`
	Gauges map[string]int64   `json:"gauges"`
	Rates  map[string]float64 `json:"rates"`
}

// history is a ring of points and the counters of the last sample.
type history struct {
	mu     sync.Mutex
	points []historyPoint // ring, len ≤ cap
	next   int
	last   map[string]uint64
	lastT  time.Time
}

func newHistory(n int) *history { return &history{points: make([]historyPoint, 0, n)} }

// add records a sample: gauges, and counters turned into rates.
func (h *history) add(t time.Time, gauges map[string]int64, counters map[string]uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rates := make(map[string]float64, len(counters))
	if dt := t.Sub(h.lastT).Seconds(); h.last != nil && dt > 0 {
		for k, v := range counters {
			if prev, ok := h.last[k]; ok && v >= prev {
				rates[k] = float64(v-prev) / dt
			}
		}
	}
	h.last, h.lastT = counters, t
	p := historyPoint{T: t, Gauges: gauges, Rates: rates}
	if len(h.points) < cap(h.points) {
		h.points = append(h.points, p)
		return
	}
	h.points[h.next] = p
	h.next = (h.next + 1) % len(h.points)
}

// since returns the points after t, oldest first.
func (h *history) since(t time.Time) []historyPoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]historyPoint, 0, len(h.points))
	for i := range h.points {
		p := h.points[(h.next+i)%len(h.points)]
		if p.T.After(t) {
			out = append(out, p)
		}
	}
	return out
}

// RunHistory samples the hub's counters every interval until ctx ends
// (internal/app runs it in a goroutine for the hub's lifetime).
func (a *API) RunHistory(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		a.sampleHistory(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sampleHistory adds one point from the broker's stats, the rules'
// metrics and Options.Counters.
func (a *API) sampleHistory(now time.Time) {
	st := a.o.Broker.Stats()
	gauges := map[string]int64{
		"connections": st.Connections, "sessions": st.Sessions, "subscriptions": st.Subscriptions,
		"retained": int64(st.Retained), "queued": st.Queued, "inflight": st.Inflight,
	}
	counters := map[string]uint64{"messages_in": st.MessagesIn, "messages_out": st.MessagesOut,
		"bytes_in": st.BytesIn, "bytes_out": st.BytesOut}
	for reason, n := range st.Dropped {
		counters["dropped."+reason] = n
	}
	if m, _ := a.ruleManager(); m != nil {
		var matched, passed, failed uint64
		for _, ri := range m.List() {
			matched, passed, failed = matched+ri.Metrics.Matched, passed+ri.Metrics.Passed, failed+ri.Metrics.Failed
		}
		counters["rules_matched"], counters["rules_passed"], counters["rules_failed"] = matched, passed, failed
	}
	if a.o.Counters != nil {
		for k, v := range a.o.Counters() {
			counters[k] = v
		}
	}
	a.history.add(now, gauges, counters)
}

// historyAnswer is the answer of GET /api/v1/node/history.
type historyAnswer struct {
	IntervalSeconds float64        `json:"interval_seconds"`
	Points          []historyPoint `json:"points"`
}

// nodeHistory answers GET /api/v1/node/history?since=<unix ms>.
func (a *API) nodeHistory(w http.ResponseWriter, r *http.Request) error {
	var since time.Time
	if s := r.URL.Query().Get("since"); s != "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms < 0 {
			return badField("since", "%q: want a time in milliseconds since 1970", s)
		}
		since = time.UnixMilli(ms)
	}
	writeJSON(w, http.StatusOK, historyAnswer{IntervalSeconds: HistoryInterval.Seconds(), Points: a.history.since(since)})
	return nil
}
