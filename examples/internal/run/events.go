package run

import (
	"context"
	"fmt"
	"strconv"
	"sync"
)

// Event is one JSON line an example program printed (its slog record:
// "msg", "level", "time" and its attributes), with "from", the program's
// name in the run, added.
type Event map[string]any

// S returns the attribute key as text ("" when absent).
func (e Event) S(key string) string {
	v, ok := e[key]
	if !ok || v == nil {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// F returns the attribute key as a number (0 when absent or not one).
func (e Event) F(key string) float64 {
	f, _ := e[key].(float64)
	return f
}

// Is reports whether the event came from program from with message msg.
func (e Event) Is(from, msg string) bool { return e.S("from") == from && e.S("msg") == msg }

// Events collects the events of every program of a run, in arrival order.
type Events struct {
	mu      sync.Mutex
	list    []Event
	changed chan struct{} // closed and replaced on every add
}

// Add appends an event (the demo's own observations).
func (es *Events) Add(e Event) {
	es.mu.Lock()
	defer es.mu.Unlock()
	es.list = append(es.list, e)
	if es.changed != nil {
		close(es.changed)
		es.changed = nil
	}
}

// All returns the events so far.
func (es *Events) All() []Event {
	es.mu.Lock()
	defer es.mu.Unlock()
	return append([]Event(nil), es.list...)
}

// Wait returns the first event, past or future, that match accepts, or
// the context's error once it ends.
func (es *Events) Wait(ctx context.Context, match func(Event) bool) (Event, error) {
	seen := 0
	for {
		es.mu.Lock()
		for ; seen < len(es.list); seen++ {
			if match(es.list[seen]) {
				e := es.list[seen]
				es.mu.Unlock()
				return e, nil
			}
		}
		if es.changed == nil {
			es.changed = make(chan struct{})
		}
		ch := es.changed
		es.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("run: waiting for an event: %w", ctx.Err())
		}
	}
}
