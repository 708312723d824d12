package rule

import (
	"encoding/json"
	"sync"
	"time"
	"unsafe"
)

// env is the scratch state of one evaluation: the event, the clock reading,
// the FOREACH item, the outputs selected so far and the argument stack of
// function calls. Envs are pooled: an evaluation
// allocates nothing of its own for them.
type env struct {
	opts   *EngineOptions // the engine's: schemas, jq timeout
	ev     *event
	now    time.Time
	ruleID string
	item   Value
	last   Value   // the value of the last column evaluated
	sel    []Field // the outputs selected so far
	outer  []Field // the FOREACH selection, seen by INCASE and DO
	stack  []Value
	st     *ruleState // the rule's windows and remembered values (nil in tests)
	aggs   []Value    // a window output's aggregates
	win    *winInfo   // a window output's window
	// accepted is set when an event passed WHERE into a window.
	accepted bool
}

var envPool = sync.Pool{New: func() any { return &env{stack: make([]Value, 0, 16)} }}

func getEnv(opts *EngineOptions, ev *event, now time.Time) *env {
	e := envPool.Get().(*env)
	e.opts, e.ev, e.now = opts, ev, now
	return e
}

func putEnv(e *env) {
	clear(e.sel)
	clear(e.outer)
	clear(e.stack[:cap(e.stack)])
	*e = env{sel: e.sel[:0], outer: e.outer[:0], stack: e.stack[:0]}
	envPool.Put(e)
}

// jsonUnmarshalString decodes s without copying it to a byte slice;
// encoding/json does not retain or modify its input.
func jsonUnmarshalString(s string, v any) error {
	if s == "" {
		return json.Unmarshal(nil, v)
	}
	return json.Unmarshal(unsafe.Slice(unsafe.StringData(s), len(s)), v) //nolint:gosec // read-only view: Unmarshal does not write its input
}
