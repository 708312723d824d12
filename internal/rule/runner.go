package rule

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/logging"
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
	// DataDir holds rules.json; "" keeps API rules in memory only.
	DataDir string
	// Registry holds the action factories (default NewRegistry()).
	Registry *Registry
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Schemas is the schema registry of schema_decode and schema_encode
	// (nil: those functions fail).
	Schemas Schemas
	// JQTimeout bounds a jq call without a timeout of its own (default
	// DefaultJQTimeout).
	JQTimeout time.Duration
	// MaxState bounds each rule's windows and remembered values (default
	// DefaultMaxState).
	MaxState int
	// WindowTick is how often time windows are closed (default 100ms):
	// an output leaves at most this long after its window's end.
	WindowTick time.Duration
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

// Stats are the Runner's own counters. Events the broker could not queue
// for the runner are counted by the broker (iothub_events_dropped_total).
type Stats struct {
	// Inline counts events evaluated on the goroutine that emitted them
	// (messages published and acknowledged, clients connected and
	// disconnected).
	Inline uint64 `json:"inline"`
	// Queued counts events evaluated from the broker's event queue
	// (messages delivered and dropped, subscriptions).
	Queued uint64 `json:"queued"`
}

// Runner drives an Engine: it receives broker events (registered with
// (*broker.Server).AddEventHandler, as an inline handler: see
// HandleEventInline), evaluates them, runs the rules' actions on the
// outputs, samples rates, and manages rules for the API (Create, Update,
// Delete, Enable, Disable, Get, List, Test, Metrics), persisting API rules
// in rules.json.
type Runner struct {
	opts   Options
	log    *slog.Logger
	engine *Engine
	store  *fileStore

	mu      sync.Mutex // serialises management calls; guards source, meters
	source  map[string]string
	meters  map[string]*rateMeter
	actions atomic.Pointer[map[string][]Action] // copy-on-write, read by evaluations

	quit     chan struct{}
	wg       sync.WaitGroup
	active   sync.WaitGroup // evaluations under way, awaited by Close
	amu      sync.RWMutex   // read: an evaluation starting; write: Close
	started  atomic.Bool
	closed   atomic.Bool
	inline   atomic.Uint64
	queued   atomic.Uint64
	warnRate logging.Limiter
}

// NewRunner returns a Runner with no rules; add configuration rules with
// AddConfigRule, then Start.
func NewRunner(opts Options) *Runner {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WindowTick <= 0 {
		opts.WindowTick = 100 * time.Millisecond
	}
	r := &Runner{opts: opts, log: opts.Logger.With("component", "rules"),
		source: map[string]string{}, meters: map[string]*rateMeter{}, quit: make(chan struct{})}
	r.engine = NewEngine(EngineOptions{Now: opts.Now, OnError: r.evalFailed, Schemas: opts.Schemas,
		JQTimeout: opts.JQTimeout, MaxState: opts.MaxState})
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
// also a configuration rule is skipped with a warning) and starts taking
// events.
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
	r.wg.Add(2)
	go r.sampleRates()
	go r.closeWindows()
	r.started.Store(true)
	r.log.Info("rule engine started", "rules", len(r.engine.List()))
	return nil
}

// WantsEvent reports whether an enabled rule reads events of kind
// (broker.EventFilter): the broker builds and queues no others.
func (r *Runner) WantsEvent(kind msg.EventKind) bool {
	return r.started.Load() && r.engine.Wants(kind)
}

// HandleEventInline evaluates ev on the goroutine that emitted it and
// runs the actions of the rules it matches before returning; it
// implements broker.InlineEventHandler. For a QoS 1/2 message published
// by a device that goroutine is the device's, before its PUBACK is
// queued: what a bridge action appends to its durable queue is then
// committed before the PUBACK goes out, a slow rule slows only the
// publishers that feed it, and each publisher's outputs keep its order.
// ctx is the broker's: a republish action publishing with it does not
// wait for the store (the PUBACK that depends on it does).
func (r *Runner) HandleEventInline(ctx context.Context, ev *msg.Event) {
	if r.eval(ctx, ev) {
		r.inline.Add(1)
	}
}

// HandleEvent evaluates ev and runs its actions; it implements
// broker.EventHandler and is called from the broker's event queue for the
// kinds it does not hand over inline (messages delivered and dropped,
// subscriptions). That queue is the only one between the broker and the
// rules; its bound and back-pressure are the broker's
// (mqtt.event_buffer, mqtt.event_block_timeout).
func (r *Runner) HandleEvent(ev msg.Event) {
	if r.eval(context.Background(), &ev) {
		r.queued.Add(1)
	}
}

// outsPool holds the output slices of evaluations.
var outsPool = sync.Pool{New: func() any { return new([]Output) }}

// eval evaluates ev and runs the actions; false when ev was not evaluated
// (no enabled rule reads its kind, or the runner is not running).
func (r *Runner) eval(ctx context.Context, ev *msg.Event) bool {
	if !r.started.Load() || !r.engine.Wants(ev.Kind) {
		return false
	}
	r.amu.RLock()
	if r.closed.Load() {
		r.amu.RUnlock()
		return false
	}
	r.active.Add(1)
	r.amu.RUnlock()
	defer r.active.Done()
	p := outsPool.Get().(*[]Output)
	outs := r.engine.AppendEval((*p)[:0], ev)
	r.runActions(ctx, outs)
	clear(outs)
	*p = outs[:0]
	outsPool.Put(p)
	return true
}

// runActions runs the actions of each output's rule, in order.
func (r *Runner) runActions(ctx context.Context, outs []Output) {
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
}

// closeWindows closes the time windows that ended, every WindowTick, and
// runs their outputs' actions like any other output's.
func (r *Runner) closeWindows() {
	defer r.wg.Done()
	t := time.NewTicker(r.opts.WindowTick)
	defer t.Stop()
	var outs []Output
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
		}
		r.amu.RLock()
		if r.closed.Load() {
			r.amu.RUnlock()
			return
		}
		r.active.Add(1)
		r.amu.RUnlock()
		outs = r.engine.Tick(outs[:0], r.opts.Now())
		r.runActions(context.Background(), outs)
		clear(outs)
		r.active.Done()
	}
}

func (r *Runner) evalFailed(id string, err error) {
	r.warnf("rule evaluation failed", "rule", id, "error", err)
}

// warnf logs at warn level at most once a second, at debug otherwise
// (logging.Limiter).
func (r *Runner) warnf(m string, args ...any) {
	r.warnRate.Warn(r.log, m, args...)
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
			if mt.Dropped > m.dropped {
				r.warnf("rule state full: events left out of windows or values forgotten (rules.max_state)",
					"rule", id, "dropped", mt.Dropped-m.dropped, "dropped_total", mt.Dropped)
				m.dropped = mt.Dropped
			}
		}
	}
}

// Close stops taking events, waits for the evaluations under way (bounded
// by ctx) and closes the actions that hold resources.
func (r *Runner) Close(ctx context.Context) error {
	r.amu.Lock()
	if !r.closed.CompareAndSwap(false, true) {
		r.amu.Unlock()
		return nil
	}
	r.amu.Unlock()
	close(r.quit)
	done := make(chan struct{})
	go func() { r.wg.Wait(); r.active.Wait(); close(done) }()
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
	return Stats{Inline: r.inline.Load(), Queued: r.queued.Load()}
}
