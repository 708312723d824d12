package rule

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// Rule is a rule's definition, as the configuration file, the API and
// rules.json hold it.
type Rule struct {
	// ID names the rule: 1 to 64 letters, digits, '_', '-' or '.'.
	ID string `json:"id"`
	// SQL is the statement.
	SQL string `json:"sql"`
	// Description is free text.
	Description string `json:"description,omitempty"`
	// Enabled rules are evaluated; disabled ones are kept but skipped.
	Enabled bool `json:"enabled"`
	// Actions receive every output, in order.
	Actions []ActionSpec `json:"actions"`
}

// ActionSpec is one action's raw configuration: "type" names the factory
// (republish, log, …); the other keys are the factory's.
type ActionSpec map[string]any

// Type returns the spec's "type" key.
func (s ActionSpec) Type() string {
	t, _ := s["type"].(string)
	return t
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ValidateID checks a rule id.
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: id %q: want 1 to 64 letters, digits, '_', '-' or '.'", ErrBadRule, id)
	}
	return nil
}

// EngineOptions configures an Engine.
type EngineOptions struct {
	// Now is the clock behind now_timestamp() (default time.Now). Tests
	// pass a fixed clock to make evaluation deterministic.
	Now func() time.Time
	// OnError is called with each run-time failure of a rule (may be nil).
	// It runs on the evaluating goroutine and must not block.
	OnError func(ruleID string, err error)
	// Schemas decodes and encodes payloads for schema_decode and
	// schema_encode (nil: those functions fail).
	Schemas Schemas
	// JQTimeout bounds a jq call that gives no timeout of its own
	// (default DefaultJQTimeout).
	JQTimeout time.Duration
	// MaxState bounds each rule's state: open windows, events buffered by
	// sliding and count windows, values remembered by deadband and
	// changed (default DefaultMaxState). What does not fit is dropped and
	// counted (Metrics.Dropped).
	MaxState int
}

// Schemas is the schema registry as rules use it (schema_decode,
// schema_encode); *schema.Registry implements it. Both methods are called
// on evaluating goroutines, concurrently, and must not block.
type Schemas interface {
	// Decode decodes data as the message named message ("": the schema's
	// only message) of the schema name into JSON-shaped values.
	Decode(name, message string, data []byte) (map[string]any, error)
	// Encode builds that message from JSON-shaped values and returns its
	// binary form.
	Encode(name, message string, fields map[string]any) ([]byte, error)
}

// Engine holds compiled rules and evaluates events against them. It is
// synchronous and does no I/O: Eval returns outputs and leaves actions to
// the caller (the Runner). All methods are safe for concurrent use; Eval
// reads an immutable snapshot and never waits for Add/Remove.
type Engine struct {
	opts EngineOptions
	mu   sync.Mutex // serialises writers of snap
	snap atomic.Pointer[ruleSet]
}

// ruleSet is one immutable snapshot of the rules.
type ruleSet struct {
	rules []*compiled // in insertion order
	kinds kindMask    // kinds some enabled rule listens to
	// topics indexes the FROM topic filters of the enabled rules: the
	// entries of a filter are the positions in rules of the rules that
	// have it (key: the position as text), so a published message is
	// matched against every rule in one walk of the trie.
	topics *topic.Trie[int]
}

// compiled is one rule with its program, counters and state (nil for a
// rule with no window and no deadband or changed call).
type compiled struct {
	def  Rule
	prog *program
	m    *counters
	st   *ruleState
}

func (e *Engine) newCompiled(def Rule, p *program) *compiled {
	c := &compiled{def: cloneRule(def), prog: p, m: &counters{}}
	if p.window != nil || p.slots > 0 {
		c.st = newRuleState(e.opts.MaxState, p.slots)
	}
	return c
}

// NewEngine returns an empty Engine.
func NewEngine(opts EngineOptions) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.JQTimeout <= 0 {
		opts.JQTimeout = DefaultJQTimeout
	}
	e := &Engine{opts: opts}
	e.store(nil)
	return e
}

func (e *Engine) load() *ruleSet { return e.snap.Load() }

func (e *Engine) find(id string) (int, *compiled) {
	rs := e.load()
	for i, c := range rs.rules {
		if c.def.ID == id {
			return i, c
		}
	}
	return -1, nil
}

// store installs rules as the new snapshot; e.mu is held.
func (e *Engine) store(rules []*compiled) {
	rs := &ruleSet{rules: rules, topics: topic.NewTrie[int]()}
	for i, c := range rules {
		if !c.def.Enabled {
			continue
		}
		rs.kinds |= c.prog.kinds
		for _, f := range c.prog.filters {
			// Compiled filters are valid: Subscribe cannot fail.
			_, _ = rs.topics.Subscribe(f, strconv.Itoa(i), i)
		}
	}
	e.snap.Store(rs)
}

// topicMatches holds the trie matches of one evaluation.
var topicMatches = sync.Pool{New: func() any { return new(topic.Matches[int]) }}

// candidates returns the positions of the enabled rules whose FROM may
// accept ev, ascending (insertion order): for a published message, the
// rules with a topic filter matching its topic (from the trie); for the
// other kinds, every rule that listens to the kind. dst is reused.
func (rs *ruleSet) candidates(dst []int, ev *msg.Event) []int {
	if ev.Kind != msg.EventMessagePublished {
		for i, c := range rs.rules {
			if c.def.Enabled && c.prog.matches(ev) {
				dst = append(dst, i)
			}
		}
		return dst
	}
	if ev.Message == nil {
		return dst
	}
	m := topicMatches.Get().(*topic.Matches[int])
	rs.topics.Match(ev.Message.Topic, m)
	for _, e := range m.Subs {
		dst = append(dst, e.Value)
	}
	m.Reset()
	topicMatches.Put(m)
	if len(dst) > 1 {
		slices.Sort(dst)
		dst = slices.Compact(dst) // a rule with two matching filters runs once
	}
	return dst
}

// check compiles def; the error names what is wrong.
func check(def Rule) (*program, error) {
	if err := ValidateID(def.ID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(def.SQL) == "" {
		return nil, fmt.Errorf("%w: rule %s: sql is required", ErrBadRule, def.ID)
	}
	p, err := compileSQL(def.SQL)
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", def.ID, err)
	}
	return p, nil
}

// Add compiles def and adds it. It fails with ErrExists, a *SQLError
// (ErrSyntax, ErrInvalid) or ErrBadRule.
func (e *Engine) Add(def Rule) error {
	p, err := check(def)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, c := e.find(def.ID); c != nil {
		return fmt.Errorf("rule %s: %w", def.ID, ErrExists)
	}
	e.store(append(slices.Clone(e.load().rules), e.newCompiled(def, p)))
	return nil
}

// Replace compiles def and replaces the rule with its id (ErrNotFound if
// none), resetting its metrics.
func (e *Engine) Replace(def Rule) error {
	p, err := check(def)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	i, c := e.find(def.ID)
	if c == nil {
		return fmt.Errorf("rule %s: %w", def.ID, ErrNotFound)
	}
	rules := slices.Clone(e.load().rules)
	rules[i] = e.newCompiled(def, p)
	e.store(rules)
	return nil
}

// Remove deletes the rule (ErrNotFound if none).
func (e *Engine) Remove(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	i, c := e.find(id)
	if c == nil {
		return fmt.Errorf("rule %s: %w", id, ErrNotFound)
	}
	e.store(slices.Delete(slices.Clone(e.load().rules), i, i+1))
	return nil
}

// SetEnabled enables or disables the rule (ErrNotFound if none); its
// metrics are kept.
func (e *Engine) SetEnabled(id string, enabled bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	i, c := e.find(id)
	if c == nil {
		return fmt.Errorf("rule %s: %w", id, ErrNotFound)
	}
	rules := slices.Clone(e.load().rules)
	next := *c
	next.def.Enabled = enabled
	rules[i] = &next
	e.store(rules)
	return nil
}

// Get returns the rule's definition (ErrNotFound if none).
func (e *Engine) Get(id string) (Rule, error) {
	if _, c := e.find(id); c != nil {
		return cloneRule(c.def), nil
	}
	return Rule{}, fmt.Errorf("rule %s: %w", id, ErrNotFound)
}

// List returns every rule's definition in insertion order.
func (e *Engine) List() []Rule {
	rs := e.load()
	out := make([]Rule, len(rs.rules))
	for i, c := range rs.rules {
		out[i] = cloneRule(c.def)
	}
	return out
}

// Wants reports whether some enabled rule listens to events of kind k, so
// that callers can skip the others cheaply.
func (e *Engine) Wants(k msg.EventKind) bool { return e.load().kinds.has(k) }

// Eval evaluates ev against every enabled rule, in insertion order, and
// returns their outputs. It counts matched, passed, failed and no-result
// per rule. A message republished by a rule is not evaluated by a rule
// already in its origin chain (see Origin).
func (e *Engine) Eval(ev *msg.Event) []Output { return e.AppendEval(nil, ev) }

// AppendEval is Eval appending to dst, so that a caller can reuse a slice.
func (e *Engine) AppendEval(dst []Output, ev *msg.Event) []Output {
	rs := e.load()
	if !rs.kinds.has(ev.Kind) {
		return dst
	}
	var (
		evd *event
		en  *env
		buf [8]int
	)
	for _, i := range rs.candidates(buf[:0], ev) {
		c := rs.rules[i]
		if inOriginChain(ev, c.def.ID) {
			continue
		}
		if en == nil {
			evd = &event{e: ev}
			en = getEnv(&e.opts, evd, e.opts.Now())
		}
		c.m.matched.Add(1)
		n := len(dst)
		var err error
		en.st, en.accepted = c.st, false
		dst, err = c.prog.run(en, c.def.ID, dst)
		switch {
		case err != nil:
			dst = dst[:n]
			c.m.failed.Add(1)
			if e.opts.OnError != nil {
				e.opts.OnError(c.def.ID, err)
			}
		case en.accepted && len(dst) == n:
			c.m.passed.Add(1) // into a window; its output comes when it closes
		case len(dst) == n:
			c.m.noResult.Add(1)
		default:
			c.m.passed.Add(1)
			for i := n; i < len(dst); i++ {
				dst[i].m = c.m
			}
		}
	}
	if en != nil {
		putEnv(en)
	}
	return dst
}

// Tick closes the time windows that ended by now and returns their
// outputs (appended to dst), in the order of the rules and, within a
// rule, of the windows' ends. The Runner calls it a few times a second
// with its clock; tests call it with theirs.
func (e *Engine) Tick(dst []Output, now time.Time) []Output {
	for _, c := range e.load().rules {
		if c.st == nil || c.prog.window == nil || !c.def.Enabled {
			continue
		}
		n := len(dst)
		dst = c.prog.closeDue(&e.opts, c.def.ID, c.st, now, dst, func(err error) {
			c.m.failed.Add(1)
			if e.opts.OnError != nil {
				e.opts.OnError(c.def.ID, err)
			}
		})
		for i := n; i < len(dst); i++ {
			dst[i].m = c.m
		}
	}
	return dst
}

// Test compiles sql and evaluates it against ev without creating a rule,
// with the Engine's clock. It returns the outputs (none when WHERE is
// false), ErrNoMatch when ev is not one of the statement's sources, a
// *SQLError for a bad statement, or an error wrapping ErrEval.
func (e *Engine) Test(sql string, ev *msg.Event) ([]Output, error) {
	p, err := compileSQL(sql)
	if err != nil {
		return nil, err
	}
	return evalProgram(&e.opts, p, ev, e.opts.Now())
}

// Metrics returns the rule's counters (ErrNotFound if none).
func (e *Engine) Metrics(id string) (Metrics, error) {
	_, c := e.find(id)
	if c == nil {
		return Metrics{}, fmt.Errorf("rule %s: %w", id, ErrNotFound)
	}
	m := c.m.snapshot()
	if c.st != nil {
		m.WindowOutputs, m.Dropped = c.st.outputs.Load(), c.st.dropped.Load()
	}
	return m, nil
}

func cloneRule(r Rule) Rule {
	r.Actions = slices.Clone(r.Actions)
	return r
}

// MaxChain is the longest chain of rules a message may pass through:
// republishing a message whose origin already names MaxChain rules fails.
const MaxChain = 8

// inOriginChain reports whether the event's message was republished by a
// chain of rules that includes id: evaluating it again would loop.
func inOriginChain(ev *msg.Event, id string) bool {
	if ev.Message == nil || ev.Message.Origin.Kind != msg.OriginRule {
		return false
	}
	for part := range strings.SplitSeq(ev.Message.Origin.Name, ",") {
		if part == id {
			return true
		}
	}
	return false
}

// errChainTooLong is returned when republishing would exceed MaxChain.
var errChainTooLong = errors.New("republish: message passed through too many rules (loop?)")

// nextOrigin returns the Origin of a message republished by rule id from
// an event whose message had origin prev: the chain of rules, oldest
// first.
func nextOrigin(prev msg.Origin, id string) (msg.Origin, error) {
	if prev.Kind != msg.OriginRule || prev.Name == "" {
		return msg.Origin{Kind: msg.OriginRule, Name: id}, nil
	}
	if strings.Count(prev.Name, ",")+1 >= MaxChain {
		return msg.Origin{}, errChainTooLong
	}
	return msg.Origin{Kind: msg.OriginRule, Name: prev.Name + "," + id}, nil
}
