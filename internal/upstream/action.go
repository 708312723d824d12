package upstream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/mqtt/topic"
)

// ActionType is the rule action that sends a rule's outputs up:
// {"type": "upstream", "topic": "<template>", "payload": "<template>",
// "stream": "<name>"}.
const ActionType = "upstream"

// ErrNoUpstream is the error of the upstream action on a hub without an
// upstream section.
var ErrNoUpstream = errors.New("upstream action: this hub has no upstream (set upstream.url)")

// ActionRegistrar registers the upstream action type; it holds the edge
// (nil until one is configured), so that rules naming the action can be
// loaded, and fail at run time, on a hub without an upstream.
type ActionRegistrar struct {
	edge atomic.Pointer[Edge]
}

// SetEdge sets (or with nil, clears) the edge the actions send to.
func (ar *ActionRegistrar) SetEdge(e *Edge) { ar.edge.Store(e) }

// Register adds the action type to reg.
func (ar *ActionRegistrar) Register(reg *rule.Registry) error {
	if err := reg.Register(ActionType, ar.newAction); err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	return nil
}

type action struct {
	ar      *ActionRegistrar
	topic   *rule.Template
	payload *rule.Template // nil: the output as JSON
	stream  string
}

func (ar *ActionRegistrar) newAction(_ rule.ActionContext, spec rule.ActionSpec) (rule.Action, error) {
	if err := spec.Check("topic", "payload", "stream"); err != nil {
		return nil, err
	}
	a := &action{ar: ar}
	t, err := spec.String("topic")
	if err != nil {
		return nil, err
	}
	if t == "" {
		t = "${topic}"
	}
	if a.topic, err = rule.ParseTemplate(t); err != nil {
		return nil, fmt.Errorf("upstream action: topic: %w", err)
	}
	if p, err := spec.String("payload"); err != nil {
		return nil, err
	} else if p != "" {
		if a.payload, err = rule.ParseTemplate(p); err != nil {
			return nil, fmt.Errorf("upstream action: payload: %w", err)
		}
	}
	if a.stream, err = spec.String("stream"); err != nil {
		return nil, err
	}
	if e := ar.edge.Load(); e != nil {
		if _, err := e.stream(a.stream); err != nil {
			return nil, fmt.Errorf("upstream action: stream: %w", err)
		}
	}
	return a, nil
}

// Do renders the output and queues it on its stream; it never waits for
// the link. An output of a message that came down from the centre is
// not sent back up.
func (a *action) Do(_ context.Context, out rule.Output) error {
	e := a.ar.edge.Load()
	if e == nil {
		return ErrNoUpstream
	}
	if out.Event != nil && out.Event.Message != nil && cameFromUpstream(out.Event.Message) {
		return nil
	}
	st, err := e.stream(a.stream)
	if err != nil {
		return err
	}
	name := a.topic.Render(&out)
	if err := topic.ValidateName(name); err != nil {
		return fmt.Errorf("upstream action: topic %q: %w", name, err)
	}
	rec := bridge.Record{Topic: name, Time: time.Now()}
	if out.Event != nil && !out.Event.Time.IsZero() {
		rec.Time = out.Event.Time
	}
	if a.payload != nil {
		rec.Value = []byte(a.payload.Render(&out))
	} else if rec.Value, err = out.MarshalJSON(); err != nil {
		return fmt.Errorf("upstream action: %w", err)
	}
	return st.enqueue(rec)
}

var _ rule.Action = (*action)(nil)
