package rule

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

// DefaultMaxState bounds the state of one rule: its open windows, the
// events buffered by its sliding and count windows, and the last values
// of its deadband and changed calls (EngineOptions.MaxState).
const DefaultMaxState = 100_000

// ruleState is what a rule remembers across events. Its mutex is held
// only while an event is added or windows are closed, never during an
// action.
type ruleState struct {
	mu      sync.Mutex
	max     int
	entries int // open groups + buffered events + remembered values
	groups  map[groupID]*group
	seq     uint64
	slots   []map[string]Value // per deadband/changed call
	dropped atomic.Uint64
	outputs atomic.Uint64
}

func newRuleState(max, slots int) *ruleState {
	if max <= 0 {
		max = DefaultMaxState
	}
	return &ruleState{max: max, groups: map[groupID]*group{}, slots: make([]map[string]Value, slots)}
}

// group is one window of one group: its aggregates (time windows) or its
// buffered events (sliding and count windows), and the last event, which
// the output's other columns read.
type group struct {
	seq        uint64
	id         groupID
	start, end time.Time
	accs       []acc
	buf        []winEntry
	seen       int // events taken (count windows)
	last       msg.Event
}

// groupID names a group's window: its GROUP BY values (groupKey) and,
// for time windows, the window's start.
type groupID struct {
	key   string
	start int64 // Unix ns; 0 for sliding and count windows
}

// winEntry is one buffered event of a sliding or count window.
type winEntry struct {
	at   time.Time
	vals []Value
}

// winInfo is the window an output came from (window_start, window_end).
type winInfo struct{ start, end time.Time }

// groupKey encodes the GROUP BY values.
func groupKey(vals []Value) string {
	var b strings.Builder
	for _, v := range vals {
		b.WriteByte(byte(v.k))
		b.WriteString(v.String())
		b.WriteByte(0)
	}
	return b.String()
}

// runWindow adds the event to its windows (WHERE already passed) and
// appends the outputs of the sliding or count window it completes.
func (p *program) runWindow(e *env, ruleID string, dst []Output) ([]Output, error) {
	w := p.window
	var kbuf [4]Value
	keyVals := kbuf[:0]
	for _, k := range w.keys {
		v, err := k(e)
		if err != nil {
			return dst, err
		}
		keyVals = append(keyVals, v)
	}
	var vbuf [8]Value
	vals := vbuf[:len(w.aggs):len(w.aggs)]
	if len(w.aggs) > len(vbuf) || w.spec.kind == sliding || w.spec.kind == counting {
		vals = make([]Value, len(w.aggs)) // kept in the window's buffer
	}
	for i, a := range w.aggs {
		if a.arg == nil {
			continue
		}
		v, err := a.arg(e)
		if err != nil {
			return dst, err
		}
		vals[i] = v
	}
	st := e.st
	st.mu.Lock()
	defer st.mu.Unlock()
	key := groupKey(keyVals)
	now := e.now
	switch w.spec.kind {
	case tumbling:
		st.addTimed(w, key, now.Truncate(w.spec.size), e.ev.e, vals)
	case hopping:
		for start := now.Truncate(w.spec.hop); start.Add(w.spec.size).After(now); start = start.Add(-w.spec.hop) {
			st.addTimed(w, key, start, e.ev.e, vals)
		}
	default:
		g := st.addBuffered(w, key, now, e.ev.e, vals)
		if g != nil && p.due(g, now) {
			out, ok, err := p.emit(e.opts, ruleID, st, g, now)
			if err != nil || !ok {
				return dst, err
			}
			dst = append(dst, out)
		}
	}
	return dst, nil
}

// addTimed adds the event to the time window of key starting at start;
// st.mu is held.
func (st *ruleState) addTimed(w *windowProg, key string, start time.Time, ev *msg.Event, vals []Value) {
	gk := groupID{key: key, start: start.UnixNano()}
	g := st.groups[gk]
	if g == nil {
		if st.entries >= st.max {
			st.dropped.Add(1) // no room for another window: the event is left out
			return
		}
		st.seq++
		g = &group{seq: st.seq, id: gk, start: start, end: start.Add(w.spec.size), accs: make([]acc, len(w.aggs))}
		for i := range g.accs {
			g.accs[i].kind = w.aggs[i].kind
		}
		st.groups[gk] = g
		st.entries++
	}
	for i := range g.accs {
		g.accs[i].add(vals[i], w.aggs[i].arg == nil)
	}
	g.last = *ev
}

// addBuffered adds the event to the sliding or count window of key and
// returns it (nil when there was no room); st.mu is held.
func (st *ruleState) addBuffered(w *windowProg, key string, now time.Time, ev *msg.Event, vals []Value) *group {
	g := st.groups[groupID{key: key}]
	if g == nil {
		if st.entries >= st.max {
			st.dropped.Add(1)
			return nil
		}
		st.seq++
		g = &group{seq: st.seq, id: groupID{key: key}}
		st.groups[g.id] = g
		st.entries++
	}
	if w.spec.kind == sliding {
		cut := 0
		for cut < len(g.buf) && !g.buf[cut].at.After(now.Add(-w.spec.size)) {
			cut++
		}
		g.buf = slices.Delete(g.buf, 0, cut)
		st.entries -= cut
	} else if len(g.buf) == w.spec.count {
		g.buf = slices.Delete(g.buf, 0, 1)
		st.entries--
	}
	if st.entries >= st.max && len(g.buf) > 0 {
		g.buf = slices.Delete(g.buf, 0, 1) // full: this group forgets its oldest event
		st.entries--
		st.dropped.Add(1)
	}
	if st.entries >= st.max {
		st.dropped.Add(1)
		return nil
	}
	g.buf = append(g.buf, winEntry{at: now, vals: vals})
	st.entries++
	g.seen++
	g.last = *ev
	return g
}

// due reports whether a sliding or count window emits on this event.
func (p *program) due(g *group, now time.Time) bool {
	s := p.window.spec
	if s.kind == sliding {
		g.start, g.end = now.Add(-s.size), now
		return true
	}
	if g.seen < s.count || (g.seen-s.count)%s.every != 0 {
		return false
	}
	g.start, g.end = g.buf[0].at, g.buf[len(g.buf)-1].at
	return true
}

// emit evaluates the columns and HAVING for a window; ok is false when
// HAVING is false. st.mu is held.
func (p *program) emit(opts *EngineOptions, ruleID string, st *ruleState, g *group, now time.Time) (Output, bool, error) {
	accs := g.accs
	if accs == nil { // sliding and count windows: over the buffer
		accs = make([]acc, len(p.window.aggs))
		for i, a := range p.window.aggs {
			accs[i].kind = a.kind
			for _, en := range g.buf {
				accs[i].add(en.vals[i], a.arg == nil)
			}
		}
	}
	last := g.last
	e := getEnv(opts, &event{e: &last}, now)
	defer putEnv(e)
	e.ruleID, e.st = ruleID, st
	e.win = &winInfo{start: g.start, end: g.end}
	e.aggs = make([]Value, len(accs))
	for i := range accs {
		e.aggs[i] = accs[i].value()
	}
	if err := p.selectCols(e, p.cols); err != nil {
		return Output{}, false, err
	}
	if h := p.window.having; h != nil {
		if ok, err := cond(e, h); err != nil || !ok {
			return Output{}, false, err
		}
	}
	st.outputs.Add(1)
	return p.output(e, ruleID, slices.Clone(e.sel)), true, nil
}

// closeDue closes the time windows that ended by now, in the order of
// their ends, and appends their outputs; failures go to onErr.
func (p *program) closeDue(opts *EngineOptions, ruleID string, st *ruleState, now time.Time, dst []Output, onErr func(error)) []Output {
	k := p.window.spec.kind
	if k != tumbling && k != hopping {
		return dst
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var due []*group
	for _, g := range st.groups {
		if !g.end.After(now) {
			due = append(due, g)
		}
	}
	slices.SortFunc(due, func(a, b *group) int {
		if c := a.end.Compare(b.end); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	for _, g := range due {
		delete(st.groups, g.id)
		st.entries--
		out, ok, err := p.emit(opts, ruleID, st, g, now)
		switch {
		case err != nil:
			onErr(err)
		case ok:
			dst = append(dst, out)
		}
	}
	return dst
}
