package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// SubOptions configures `iothub bench sub`: Clients subscribers, each on a
// filter, counting what arrives and measuring the latency of payloads that
// carry their send time (those of `bench pub --size`).
type SubOptions struct {
	ClientOptions
	// Clients is the number of subscribers.
	Clients int
	// Filter is the topic filter template: %i is the client index, %c its id.
	Filter string
	// QoS is the maximum QoS subscribed with.
	QoS byte
	// Count ends the run once this many messages arrived in all (0: none).
	Count uint64
	// Duration bounds the run; it must be positive.
	Duration time.Duration
	// Idle ends the run when nothing arrived for this long after the first
	// message (0: never).
	Idle time.Duration
	// Progress receives a line every second, and one when all subscribed.
	Progress io.Writer
}

// SubResult is the outcome of a subscribe run. The rate is over the time
// from the first message to the last.
type SubResult struct {
	Clients    int           `json:"clients"`
	Received   uint64        `json:"received"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	RatePerSec float64       `json:"rate_per_sec"`
	Latency    Latency       `json:"latency"`
}

// subState is what the subscribers share; each has its own histogram.
type subState struct {
	received atomic.Uint64
	first    atomic.Int64 // Unix ns of the first message
	last     atomic.Int64 // Unix ns of the latest message
	hists    []histogram
	mus      []sync.Mutex
	done     chan struct{}
	doneOnce sync.Once
	count    uint64
}

func (s *subState) onMessage(i int) func(*packet.Publish) {
	return func(p *packet.Publish) {
		now := time.Now()
		if t, ok := stampOf(p.Payload); ok {
			s.mus[i].Lock()
			s.hists[i].record(now.Sub(t))
			s.mus[i].Unlock()
		}
		ns := now.UnixNano()
		s.first.CompareAndSwap(0, ns)
		s.last.Store(ns)
		if n := s.received.Add(1); s.count > 0 && n >= s.count {
			s.doneOnce.Do(func() { close(s.done) })
		}
	}
}

// RunSub connects and subscribes the clients, then counts messages until
// Count, Idle or Duration ends the run.
func RunSub(ctx context.Context, o SubOptions) (SubResult, error) {
	o.defaults()
	switch {
	case o.Clients <= 0:
		return SubResult{}, fmt.Errorf("bench sub: clients %d: must be positive", o.Clients)
	case o.Duration <= 0:
		return SubResult{}, ErrUnbounded
	case o.Filter == "":
		return SubResult{}, fmt.Errorf("bench sub: filter is empty")
	}
	st := &subState{hists: make([]histogram, o.Clients), mus: make([]sync.Mutex, o.Clients), done: make(chan struct{}), count: o.Count}
	id := func(i int) string { return o.ClientPrefix + strconv.Itoa(i) }
	clients, err := connectAll(ctx, &o.ClientOptions, o.Clients, id, st.onMessage)
	if err != nil {
		return SubResult{}, fmt.Errorf("bench sub: %w", err)
	}
	defer closeAll(clients)
	if err := subscribeAll(ctx, clients, o.Filter, o.QoS); err != nil {
		return SubResult{}, fmt.Errorf("bench sub: %w", err)
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "sub: %d clients subscribed\n", o.Clients)
	}
	runCtx, cancel := deadline(ctx, o.Duration)
	defer cancel()
	start := time.Now()
	last := uint64(0)
	stop := ticker(o.Progress, start, func(el time.Duration) string {
		n := st.received.Load()
		line := fmt.Sprintf("sub: %4.0fs  received %d  rate %d/s", el.Seconds(), n, n-last)
		last = n
		return line
	})
	st.wait(runCtx, o.Idle)
	stop()
	return st.result(o.Clients), nil
}

func subscribeAll(ctx context.Context, clients []*client, filter string, qos byte) error {
	errs := make(chan error, len(clients))
	sem := make(chan struct{}, 64)
	for i, c := range clients {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- c.subscribe(ctx, expand(filter, i, c.id), qos)
		}()
	}
	var first error
	for range clients {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// wait returns when the count is reached, ctx ends, or the run is idle.
func (s *subState) wait(ctx context.Context, idle time.Duration) {
	var idleC <-chan time.Time
	if idle > 0 {
		t := time.NewTicker(idle / 4)
		defer t.Stop()
		idleC = t.C
	}
	for {
		select {
		case <-s.done:
			return
		case <-ctx.Done():
			return
		case now := <-idleC:
			if l := s.last.Load(); l != 0 && now.Sub(time.Unix(0, l)) >= idle {
				return
			}
		}
	}
}

func (s *subState) result(clients int) SubResult {
	var h histogram
	for i := range s.hists {
		s.mus[i].Lock()
		h.merge(&s.hists[i])
		s.mus[i].Unlock()
	}
	res := SubResult{Clients: clients, Received: s.received.Load(), Latency: h.summary()}
	if f, l := s.first.Load(), s.last.Load(); f != 0 && l > f {
		res.Elapsed = time.Duration(l - f)
		res.RatePerSec = float64(res.Received) / res.Elapsed.Seconds()
	}
	return res
}
