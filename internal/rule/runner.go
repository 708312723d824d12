package rule

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

// Where a rule comes from.
const (
	// SourceConfig marks rules of the configuration file: read-only
	// through the API, not stored in rules.json.
	SourceConfig = "config"
	// SourceAPI marks rules created through the API (Create), kept in
	// <data_dir>/rules.json.
	SourceAPI = "api"
)

// Options configures a Runner.
type Options struct {
	// Publisher is where republish actions publish (the broker).
	Publisher Publisher
	// Logger receives the runner's logs (default slog.Default()).
	Logger *slog.Logger
	// Workers is the number of goroutines evaluating rules (default 2).
	Workers int
	// QueueSize is the length of each worker's event queue (default 1024).
	QueueSize int
	// DataDir holds rules.json; "" keeps API rules in memory only.
	DataDir string
	// Registry holds the action factories (default NewRegistry()).
	Registry *Registry
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// RuleInfo is a rule as the API shows it: its definition, where it comes
// from and its metrics.
type RuleInfo struct {
	Rule
	// Source is SourceConfig or SourceAPI.
	Source string `json:"source"`
	// Metrics are the rule's counters and rate.
	Metrics Metrics `json:"metrics"`
}

// Stats are the Runner's own counters.
type Stats struct {
	// Dropped counts events not evaluated because a worker queue was full
	// (QoS 0 messages and client events only).
	Dropped uint64 `json:"dropped"`
	// Blocked counts QoS 1/2 message events that waited for room in a
	// worker queue (back-pressure onto the broker's event queue).
	Blocked uint64 `json:"blocked"`
	// Queued is the number of events waiting in the worker queues now.
	Queued int `json:"queued"`
}

// Runner drives an Engine: it receives broker events (HandleEvent, to be
// registered with (*broker.Server).AddEventHandler), queues them to its
// workers, runs the rules' actions on the outputs, samples rates, and
// manages rules for the API (Create, Update, Delete, Enable, Disable, Get,
// List, Test, Metrics), persisting API rules in rules.json.
type Runner struct {
	opts   Options
	log    *slog.Logger
	engine *Engine
	store  *fileStore

	mu      sync.Mutex // serialises management calls; guards source, meters
	source  map[string]string
	meters  map[string]*rateMeter
	actions atomic.Pointer[map[string][]Action] // copy-on-write, read by workers

	queues   []chan msg.Event
	qmu      sync.RWMutex // held (read) while sending to queues, (write) to close them
	quit     chan struct{}
	wg       sync.WaitGroup
	started  atomic.Bool
	closed   atomic.Bool
	dropped  atomic.Uint64
	blocked  atomic.Uint64
	lastWarn atomic.Int64
}

// NewRunner returns a Runner with no rules; add configuration rules with
// AddConfigRule, then Start.
func NewRunner(opts Options) *Runner {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Registry == nil {
		opts.Registry = NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Runner{opts: opts, log: opts.Logger.With("component", "rules"),
		source: map[string]string{}, meters: map[string]*rateMeter{}, quit: make(chan struct{})}
	r.engine = NewEngine(EngineOptions{Now: opts.Now, OnError: r.evalFailed})
	if opts.DataDir != "" {
		r.store = &fileStore{path: filepath.Join(opts.DataDir, StoreFile)}
	}
	empty := map[string][]Action{}
	r.actions.Store(&empty)
	return r
}

// Engine returns the runner's engine.
func (r *Runner) Engine() *Engine { return r.engine }

// AddConfigRule adds a rule of the configuration file (read-only through
// the API, not persisted).
func (r *Runner) AddConfigRule(def Rule) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.add(def, SourceConfig)
}

// add builds def's actions and adds it; r.mu is held.
func (r *Runner) add(def Rule, source string) error {
	p, err := check(def)
	if err != nil {
		return err
	}
	if _, dup := r.source[def.ID]; dup {
		return fmt.Errorf("rule %s: %w", def.ID, ErrExists)
	}
	acts, err := r.buildActions(def, p)
	if err != nil {
		return err
	}
	r.setActions(def.ID, acts)
	if err := r.engine.Add(def); err != nil {
		r.setActions(def.ID, nil)
		closeActions(acts)
		return err
	}
	r.source[def.ID] = source
	r.meters[def.ID] = &rateMeter{}
	return nil
}

func (r *Runner) buildActions(def Rule, p *program) ([]Action, error) {
	return r.opts.Registry.build(ActionContext{RuleID: def.ID, Filters: p.filters,
		Publisher: r.opts.Publisher, Logger: r.log.With("rule", def.ID)}, def.Actions)
}

// setActions installs (acts != nil) or removes the actions of id; r.mu is held.
func (r *Runner) setActions(id string, acts []Action) {
	next := make(map[string][]Action, len(*r.actions.Load())+1)
	for k, v := range *r.actions.Load() {
		next[k] = v
	}
	if acts == nil {
		delete(next, id)
	} else {
		next[id] = acts
	}
	r.actions.Store(&next)
}

// Start loads the API rules kept in rules.json (a stored rule whose id is
// also a configuration rule is skipped with a warning) and starts the
// workers.
func (r *Runner) Start() error {
	if r.store != nil {
		stored, err := r.store.load()
		if err != nil {
			return err
		}
		r.mu.Lock()
		for _, def := range stored {
			if err := r.add(def, SourceAPI); err != nil {
				r.log.Warn("stored rule skipped", "rule", def.ID, "error", err)
			}
		}
		r.mu.Unlock()
	}
	r.queues = make([]chan msg.Event, r.opts.Workers)
	for i := range r.queues {
		r.queues[i] = make(chan msg.Event, r.opts.QueueSize)
		r.wg.Add(1)
		go r.work(r.queues[i])
	}
	r.wg.Add(1)
	go r.sampleRates()
	r.started.Store(true)
	r.log.Info("rule engine started", "rules", len(r.engine.List()), "workers", r.opts.Workers)
	return nil
}

// WantsEvent reports whether an enabled rule reads events of kind
// (broker.EventFilter): the broker builds and queues no others.
func (r *Runner) WantsEvent(kind msg.EventKind) bool {
	return r.started.Load() && r.engine.Wants(kind)
}

// HandleEvent queues ev for evaluation; it implements broker.EventHandler.
// Events no enabled rule listens to are skipped at once. Policy when the
// chosen worker's queue is full: a QoS 1/2 message event waits for room
// (back-pressure: the broker's own bounded event queue absorbs it, and
// counts a drop only if that fills too); anything else is dropped and
// counted in Stats().Dropped. Events of one publisher go to one worker, so
// their outputs keep the publisher's order.
func (r *Runner) HandleEvent(ev msg.Event) {
	if !r.started.Load() || !r.engine.Wants(ev.Kind) {
		return
	}
	r.qmu.RLock()
	defer r.qmu.RUnlock()
	if r.closed.Load() {
		return
	}
	key := ev.ClientID
	if ev.Message != nil {
		key = ev.Message.ClientID
	}
	q := r.queues[fnv32(key)%uint32(len(r.queues))]
	select {
	case q <- ev:
		return
	default:
	}
	if ev.Message != nil && ev.Message.QoS > 0 {
		r.blocked.Add(1)
		select {
		case q <- ev:
		case <-r.quit:
		}
		return
	}
	r.dropped.Add(1)
	r.warnf("rule engine queue full: event dropped", "event", ev.Kind.String())
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// work evaluates events and runs actions until the queue is closed.
func (r *Runner) work(q chan msg.Event) {
	defer r.wg.Done()
	ctx := context.Background()
	var outs []Output
	for ev := range q {
		outs = r.engine.AppendEval(outs[:0], &ev)
		acts := *r.actions.Load()
		for i := range outs {
			for _, a := range acts[outs[i].RuleID] {
				err := a.Do(ctx, outs[i])
				outs[i].CountAction(err)
				if err != nil {
					r.warnf("rule action failed", "rule", outs[i].RuleID, "error", err)
				}
			}
		}
		clear(outs)
	}
}

func (r *Runner) evalFailed(id string, err error) {
	r.warnf("rule evaluation failed", "rule", id, "error", err)
}

// warnf logs at warn level at most once a second, and at debug otherwise.
func (r *Runner) warnf(m string, args ...any) {
	now := time.Now().UnixNano()
	last := r.lastWarn.Load()
	if now-last >= int64(time.Second) && r.lastWarn.CompareAndSwap(last, now) {
		r.log.Warn(m, args...)
		return
	}
	r.log.Debug(m, args...)
}

// sampleRates feeds each rule's rate meter once a second.
func (r *Runner) sampleRates() {
	defer r.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
			r.tick(r.opts.Now())
		}
	}
}

func (r *Runner) tick(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, m := range r.meters {
		if mt, err := r.engine.Metrics(id); err == nil {
			m.add(now, mt.Matched)
		}
	}
}

// Close stops taking events, lets the workers finish the queued ones
// (bounded by ctx) and closes the actions that hold resources.
func (r *Runner) Close(ctx context.Context) error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(r.quit) // wakes HandleEvent calls waiting for room
	r.qmu.Lock()
	for _, q := range r.queues {
		close(q)
	}
	r.qmu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("rule runner close: %w", ctx.Err())
	}
	for _, acts := range *r.actions.Load() {
		closeActions(acts)
	}
	return err
}

// Stats returns the runner's counters.
func (r *Runner) Stats() Stats {
	s := Stats{Dropped: r.dropped.Load(), Blocked: r.blocked.Load()}
	for _, q := range r.queues {
		s.Queued += len(q)
	}
	return s
}
