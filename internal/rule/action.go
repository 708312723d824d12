package rule

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"

	"github.com/iothub-dev/iothub/msg"
)

// Action does something with each output of a rule: republish it, log it,
// hand it to a bridge.
type Action interface {
	// Do handles one output. It runs on a Runner worker goroutine, one
	// output at a time per worker, and must return quickly: an action that
	// talks to a slow system (a bridge) queues the work in its own bounded
	// buffer and returns. The output is immutable and may be kept. An
	// error counts in the rule's actions_failed metric and is logged
	// (rate-limited); it does not stop the rule's other actions.
	Do(ctx context.Context, out Output) error
}

// Publisher publishes a message into the hub, as a device would; it is
// satisfied by *broker.Server. Publish returns the number of subscribers
// the message was delivered or queued to.
type Publisher interface {
	Publish(ctx context.Context, m *msg.Message) (int, error)
}

// ActionContext is what a factory gets besides the spec.
type ActionContext struct {
	// RuleID is the rule the action belongs to.
	RuleID string
	// Filters are the topic filters in the rule's FROM (not the $events
	// sources), for loop checks.
	Filters []string
	// Publisher publishes into the hub.
	Publisher Publisher
	// Logger is scoped to the rule.
	Logger *slog.Logger
}

// ActionFactory builds an action from its spec. It must refuse keys it
// does not know (see ActionSpec.Check) and must not start goroutines or
// open connections that outlive a refusal; an Action that holds resources
// implements io.Closer and is closed when its rule is deleted or updated.
type ActionFactory func(ctx ActionContext, spec ActionSpec) (Action, error)

// Registry maps action types to factories. The zero value is not usable;
// NewRegistry returns one holding the built-ins (republish and log).
// Bridges add theirs with Register. It is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]ActionFactory
}

// NewRegistry returns a registry with the built-in actions.
func NewRegistry() *Registry {
	r := &Registry{m: map[string]ActionFactory{}}
	_ = r.Register("republish", newRepublish)
	_ = r.Register("log", newLog)
	return r
}

// Register adds factory f under type name typ; ErrExists if taken.
func (r *Registry) Register(typ string, f ActionFactory) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[typ]; dup {
		return fmt.Errorf("action type %q: %w", typ, ErrExists)
	}
	r.m[typ] = f
	return nil
}

// Types lists the registered action types, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.m))
	for t := range r.m {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// build builds the actions of a rule; on error it closes those built.
func (r *Registry) build(ctx ActionContext, specs []ActionSpec) ([]Action, error) {
	out := make([]Action, 0, len(specs))
	for i, spec := range specs {
		r.mu.RLock()
		f, ok := r.m[spec.Type()]
		r.mu.RUnlock()
		var a Action
		var err error
		if !ok {
			err = fmt.Errorf("unknown type %q (known: %v)", spec.Type(), r.Types())
		} else {
			a, err = f(ctx, spec)
		}
		if err != nil {
			closeActions(out)
			return nil, fmt.Errorf("%w: rule %s: actions[%d]: %w", ErrBadRule, ctx.RuleID, i, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func closeActions(actions []Action) {
	for _, a := range actions {
		if c, ok := a.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
}

// Check refuses keys of s other than "type" and allowed.
func (s ActionSpec) Check(allowed ...string) error {
	for k := range s {
		if k != "type" && !slices.Contains(allowed, k) {
			return fmt.Errorf("unknown key %q (known: type %v)", k, allowed)
		}
	}
	return nil
}

// String returns the string under key ("" when absent) or an error when
// it is not a string.
func (s ActionSpec) String(key string) (string, error) {
	switch v := s[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", fmt.Errorf("%s: want a string, got %T", key, s[key])
}

// logAction logs each output at info level: a debugging aid. Its logger
// names the rule already (ActionContext.Logger).
type logAction struct{ log *slog.Logger }

func newLog(ctx ActionContext, spec ActionSpec) (Action, error) {
	if err := spec.Check(); err != nil {
		return nil, err
	}
	return &logAction{log: ctx.Logger}, nil
}

// Do logs the output as JSON.
func (a *logAction) Do(_ context.Context, out Output) error {
	b, err := out.MarshalJSON()
	if err != nil {
		return fmt.Errorf("log action: %w", err)
	}
	a.log.Info("rule output", "event", out.Event.Kind.String(), "output", string(b))
	return nil
}

var _ Action = (*logAction)(nil)
