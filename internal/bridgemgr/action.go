package bridgemgr

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/msg"
)

// edgeSeqProperty is the user property that numbers what an edge hub
// forwards (upstream.PropSeq; not imported, so that the bridge manager
// does not depend on the broker; a test checks they are equal).
const edgeSeqProperty = "iothub-seq"

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
		rec = decorated(r.decorate, eventMessage(out), rec)
	}
	if r.sink.Deduplicates() {
		// only the hub sets the identity: a header of that name rendered
		// from a client's input could make another record look delivered
		rec.Headers = slices.DeleteFunc(rec.Headers, func(h bridge.Header) bool { return h.Key == bridge.IDHeader })
		if id := recordID(out, &rec); id != nil {
			rec.Headers = append(rec.Headers, bridge.Header{Key: bridge.IDHeader, Value: id})
		}
	}
	return r.sink.Enqueue(rec)
}

// decorated returns rec after decorate: only the records of a type that
// decorates pay for the pointer escaping to the heap.
func decorated(decorate func(*msg.Message, *bridge.Record), m *msg.Message, rec bridge.Record) bridge.Record {
	decorate(m, &rec)
	return rec
}

// recordID is the identity (bridge.IDHeader) of rec, rendered from out,
// when out's message was forwarded by an edge hub (it carries the edge's
// sequence number): the first 128 bits, in hex, of a SHA-256 of the
// link's client id, the sequence number, the rule and the record's topic,
// key and value. A resend of the message
// that the centre routes again (its dedup mark was lost in a crash) gives
// the same identity, which the bridge queues and delivers once; two
// different records of one message (two rules, or a FOREACH) differ.
// Nil otherwise.
func recordID(out *rule.Output, rec *bridge.Record) []byte {
	m := eventMessage(out)
	if m == nil || len(m.UserProperties) == 0 {
		return nil
	}
	var seq string
	for _, u := range m.UserProperties {
		if u.Key == edgeSeqProperty {
			seq = u.Value
		}
	}
	if seq == "" {
		return nil
	}
	var scratch [512]byte
	b := scratch[:0]
	for _, f := range [][]byte{[]byte(m.ClientID), []byte(seq), []byte(out.RuleID), []byte(rec.Topic), rec.Key, rec.Value} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f))) //nolint:gosec // lengths are far below 4 GiB
		b = append(b, f...)
	}
	sum := sha256.Sum256(b)
	return hex.AppendEncode(make([]byte, 0, 2*bridge.IDSize), sum[:bridge.IDSize])
}

var _ rule.Action = (*action)(nil)
