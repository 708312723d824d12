package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

// SourceOptions configure a SourceRunner; zero values take the defaults.
type SourceOptions struct {
	// Name names the bridge in logs.
	Name string
	// Logger receives the runner's logs (default slog.Default()).
	Logger *slog.Logger
	// RetryMin and RetryMax bound the wait before restarting a Run that
	// failed (defaults 200ms and 30s).
	RetryMin, RetryMax time.Duration
	// HealthInterval is how often a HealthChecker source is checked
	// (default 15s; the first check is after one second).
	HealthInterval time.Duration
}

// SourceMetrics is a snapshot of a source runner's counters.
type SourceMetrics struct {
	// Received counts messages the source handed to publish.
	Received uint64 `json:"received"`
	// Published counts messages published into the hub.
	Published uint64 `json:"published"`
	// Failed counts publish errors (the input is consumed again after a
	// restart, unless the error was permanent).
	Failed uint64 `json:"failed"`
	// Dropped counts inputs skipped for a permanent error (a bad topic).
	Dropped uint64 `json:"dropped"`
	// Restarts counts Run restarts after an error.
	Restarts uint64 `json:"restarts"`
}

// SourceRunner runs a Source: it restarts it with backoff when it fails,
// counts what it publishes and keeps its status.
type SourceRunner struct {
	o       SourceOptions
	src     Source
	publish func(*msg.Message) error
	log     *slog.Logger

	status *statusKeeper

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	received, published, failed, dropped, restarts atomic.Uint64
}

// NewSourceRunner returns a runner feeding src's messages to publish
// (which returns an error wrapped with Permanent for a message that can
// never be published).
func NewSourceRunner(src Source, publish func(*msg.Message) error, o SourceOptions) *SourceRunner {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	setDefault(&o.RetryMin, 200*time.Millisecond)
	setDefault(&o.RetryMax, 30*time.Second)
	setDefault(&o.HealthInterval, 15*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	log := o.Logger.With("bridge", o.Name)
	return &SourceRunner{o: o, src: src, publish: publish, log: log,
		ctx: ctx, cancel: cancel, status: newStatusKeeper(log, 0)}
}

// Start starts the source.
func (s *SourceRunner) Start() {
	if sr, ok := s.src.(StatusReporter); ok {
		sr.ReportStatus(func(err error) { s.status.set(err, fromReport) })
	}
	s.wg.Add(1)
	go s.run()
	if hc, ok := s.src.(HealthChecker); ok {
		s.wg.Add(1)
		go s.healthLoop(hc)
	}
}

func (s *SourceRunner) run() {
	defer s.wg.Done()
	for attempt := 0; ; attempt++ {
		err := s.src.Run(s.ctx, s.count)
		if s.ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("source stopped")
		}
		s.restarts.Add(1)
		s.status.set(err, fromSend)
		d := backoff(attempt, s.o.RetryMin, s.o.RetryMax)
		s.log.Warn("bridge source failed, restarting", "error", err, "in", d)
		if !sleep(s.ctx, d) {
			return
		}
	}
}

// count wraps publish with the counters.
func (s *SourceRunner) count(m *msg.Message) error {
	s.received.Add(1)
	err := s.publish(m)
	switch {
	case err == nil:
		s.published.Add(1)
		return nil
	case IsPermanent(err):
		s.dropped.Add(1)
		s.log.Debug("bridge source: message skipped", "topic", m.Topic, "error", err)
	default:
		s.failed.Add(1)
	}
	return err
}

func (s *SourceRunner) healthLoop(hc HealthChecker) {
	defer s.wg.Done()
	d := time.Second
	for sleep(s.ctx, d) {
		ctx, cancel := context.WithTimeout(s.ctx, s.o.HealthInterval)
		err := hc.Health(ctx)
		cancel()
		if s.ctx.Err() != nil {
			return
		}
		s.status.set(err, fromHealth)
		d = s.o.HealthInterval
	}
}

// Status returns the source's state.
func (s *SourceRunner) Status() Status { return s.status.get() }

// Metrics returns a snapshot of the counters.
func (s *SourceRunner) Metrics() SourceMetrics {
	return SourceMetrics{Received: s.received.Load(), Published: s.published.Load(),
		Failed: s.failed.Load(), Dropped: s.dropped.Load(), Restarts: s.restarts.Load()}
}

// Close stops the source, bounded by ctx.
func (s *SourceRunner) Close(ctx context.Context) error {
	s.status.stop()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bridge %s: close: %w", s.o.Name, ctx.Err())
	}
}
