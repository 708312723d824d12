package bridgemgr

import (
	"context"
	"fmt"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/internal/rule"
)

// ActionType is the rule action type that feeds a bridge:
// {"type": "bridge", "bridge": "<name>"}.
const ActionType = "bridge"

// Register adds the bridge action type to reg.
func (m *Manager) Register(reg *rule.Registry) error {
	if err := reg.Register(ActionType, m.newAction); err != nil {
		return fmt.Errorf("bridges: %w", err)
	}
	return nil
}

// action hands each rule output to a producer bridge.
type action struct {
	m    *Manager
	name string
}

func (m *Manager) newAction(_ rule.ActionContext, spec rule.ActionSpec) (rule.Action, error) {
	if err := spec.Check("bridge"); err != nil {
		return nil, err
	}
	name, err := spec.String("bridge")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("bridge action: key \"bridge\" (the bridge name) is required")
	}
	if !m.known(name) {
		return nil, fmt.Errorf("bridge action: no bridge is named %q", name)
	}
	return &action{m: m, name: name}, nil
}

// Do renders out into a record and enqueues it; it never waits for Kafka
// (see bridge.Runner.Enqueue). A bridge that does not exist, or is not a
// running producer, is an error (counted by the rule as a failed action).
func (a *action) Do(_ context.Context, out rule.Output) error {
	return a.m.Enqueue(a.name, &out)
}

// Enqueue renders out with bridge name's mapping and queues the record.
func (m *Manager) Enqueue(name string, out *rule.Output) error {
	m.mu.RLock()
	r := m.running[name]
	_, known := m.defs[name]
	m.mu.RUnlock()
	switch {
	case !known:
		return fmt.Errorf("bridge %s: %w", name, ErrNotFound)
	case r == nil:
		return fmt.Errorf("bridge %s: %w", name, bridge.ErrStopped)
	case r.sink == nil:
		return fmt.Errorf("bridge %s is a consumer, not a producer", name)
	}
	if r.skip != nil && r.skip(eventMessage(out)) {
		return nil
	}
	rec, err := r.mapping.record(out)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if r.decorate != nil {
		r.decorate(eventMessage(out), &rec)
	}
	return r.sink.Enqueue(rec)
}

var _ rule.Action = (*action)(nil)
