package rule

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

// Field is one named value of an Output.
type Field struct {
	Name  string
	Value Value
}

// Output is one result of a rule for one event: the columns of SELECT (or
// of FOREACH … DO, once per element), in order, with the event they came
// from. Outputs are immutable; they may be kept and read from any
// goroutine.
type Output struct {
	// RuleID is the rule that produced the output ("" for Test).
	RuleID string
	// Event is the broker event the rule matched.
	Event *msg.Event
	// Fields are the output columns in SELECT order.
	Fields []Field

	ev  *event
	now time.Time
	m   *counters // the rule's counters, for action results
}

// CountAction records the result of one action on o in its rule's
// metrics (actions_success or actions_failed). The Runner calls it; a
// caller running actions itself may too.
func (o *Output) CountAction(err error) {
	if o.m == nil {
		return
	}
	if err == nil {
		o.m.actionsOK.Add(1)
	} else {
		o.m.actionsFailed.Add(1)
	}
}

// Get returns the field name's value, and whether the output has it.
func (o *Output) Get(name string) (Value, bool) {
	for _, f := range o.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return Null, false
}

// Map returns the fields as a map, as JSON-shaped Go values.
func (o *Output) Map() map[string]any {
	m := make(map[string]any, len(o.Fields))
	for _, f := range o.Fields {
		m[f.Name] = f.Value.Any()
	}
	return m
}

// MarshalJSON encodes the fields as one JSON object, in SELECT order.
func (o Output) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o.Fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.Name)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.Value.Any())
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// lookup resolves a template root name: an output field first, then a
// field of the event (so ${topic} or ${payload.x} work whatever was
// selected). With deep set, the event's payload is its decoded JSON.
func (o *Output) lookup(name string, deep bool) Value {
	if v, ok := o.Get(name); ok {
		return v
	}
	if o.ev == nil {
		return Null
	}
	if name == "payload" && deep {
		if v, ok := o.ev.json(); ok {
			return v
		}
	}
	return o.ev.field(name)
}
