package rule

import (
	"math"
	"strconv"
	"time"
)

// Report by exception and deduplication: stateful functions that
// remember, per rule, per call and per key, the last value they let
// through.
//
//	deadband(value, band[, key]) is true when value (a number) differs by
//	more than band from the last value for which it was true, or is the
//	first for key; that value is then remembered.
//	changed(value[, key]) is true when value differs from the previous one
//	for key (or is the first); every value is remembered.
//
// key defaults to the event's topic, so that each device's stream is
// compared with itself. The memory is bounded by EngineOptions.MaxState
// per rule; a key beyond it forgets another, counted as dropped.

// statefulFuncs are the functions compiled with a state slot.
var statefulFuncs = map[string]*funcSpec{}

func init() {
	statefulFuncs["deadband"] = &funcSpec{min: 2, max: 3,
		doc: "deadband(value, band[, key]) — true when value moved by more than band since the last value it let through for key (default: the topic); for report by exception: WHERE deadband(payload.temp, 0.5)"}
	statefulFuncs["changed"] = &funcSpec{min: 1, max: 2,
		doc: "changed(value[, key]) — true when value differs from the previous one for key (default: the topic); drops repeats: WHERE changed(payload)"}
	s := register("window_start", 0, 0, func(e *env, _ []Value) (Value, error) { return winTime(e, true), nil })
	s.doc = "window_start() — the start of the output's window, Unix ms (null outside windows)"
	s = register("window_end", 0, 0, func(e *env, _ []Value) (Value, error) { return winTime(e, false), nil })
	s.doc = "window_end() — the end of the output's window, Unix ms (null outside windows)"
}

func winTime(e *env, start bool) Value {
	if e.win == nil {
		return Null
	}
	if start {
		return ms(e.win.start)
	}
	return ms(e.win.end)
}

// stateful compiles a deadband or changed call with its own slot.
func (c *compiler) stateful(n *callNode, spec *funcSpec) (evalFn, error) {
	if len(n.args) < spec.min || len(n.args) > spec.max {
		return nil, invalidErr(n.p, n.name+" takes "+arity(spec)+", got "+strconv.Itoa(len(n.args)))
	}
	args, err := c.compileAll(n.args)
	if err != nil {
		return nil, err
	}
	slot := c.slots
	c.slots++
	isDeadband := n.name == "deadband"
	keyArg := len(args) - 1
	if isDeadband && len(args) == 2 || !isDeadband && len(args) == 1 {
		keyArg = -1
	}
	return func(e *env) (Value, error) {
		v, err := args[0](e)
		if err != nil || v.k == KindNull {
			return Bool(false), err
		}
		key := ""
		if keyArg >= 0 {
			k, err := args[keyArg](e)
			if err != nil {
				return Null, err
			}
			key = k.String()
		} else if m := e.ev.e.Message; m != nil {
			key = m.Topic
		} else {
			key = e.ev.e.ClientID
		}
		if !isDeadband {
			return Bool(e.st.remember(slot, key, v, nil)), nil
		}
		band, err := args[1](e)
		if err != nil {
			return Null, err
		}
		b, ok := band.AsFloat()
		if !ok || !v.isNum() {
			return Null, evalErrf("deadband: value and band must be numbers, got %s and %s", v.k, band.k)
		}
		return Bool(e.st.remember(slot, key, v, &b)), nil
	}, nil
}

// remember compares v with the value kept for key in slot and reports
// whether it passes: for changed (band nil) when it differs, and it is
// kept either way; for deadband when it moved by more than band, and it
// is kept only then. A state without room forgets one other key.
func (st *ruleState) remember(slot int, key string, v Value, band *float64) bool {
	if st == nil {
		return true // a test evaluation without state: every value passes
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	m := st.slots[slot]
	if m == nil {
		m = map[string]Value{}
		st.slots[slot] = m
	}
	prev, seen := m[key]
	pass := !seen
	if seen {
		if band == nil {
			pass = prev.k != v.k || prev.String() != v.String()
		} else {
			a, _ := prev.AsFloat()
			b, _ := v.AsFloat()
			pass = math.Abs(b-a) > *band
		}
	}
	if !pass && band != nil {
		return false
	}
	if !seen {
		if st.entries >= st.max {
			for k := range m { // forget one other key
				delete(m, k)
				st.entries--
				st.dropped.Add(1)
				break
			}
			if st.entries >= st.max {
				st.dropped.Add(1)
				return pass
			}
		}
		st.entries++
	}
	m[key] = v
	return pass
}

// flushAll is the end of time for Test: every open window closes.
var flushAll = time.Unix(1<<40, 0)
