package rule

import (
	"slices"
	"time"

	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// program is a compiled statement: closures ready to run against events.
// It is immutable and safe for concurrent use.
type program struct {
	sql     string
	kinds   kindMask // every event kind the sources accept
	filters []string // topic filters of message sources

	cols       []outCol // SELECT columns, or the FOREACH list (last: the array)
	where      evalFn   // nil: no WHERE
	whereFirst bool     // WHERE reads no output, so it runs before the columns

	window *windowProg // GROUP BY a window (window.go); nil: none
	slots  int         // deadband and changed calls (rbe.go)

	foreach  bool
	itemName string   // the name of each element in INCASE, DO and the output
	do       []outCol // DO columns; none: the event's fields, the selection and the item
	incase   evalFn
}

// outCol is one output column: * (every event field), or a value and the
// path where it goes in the output.
type outCol struct {
	star bool
	path []pathStep
	fn   evalFn
}

// Compile parses and compiles a statement without creating a rule, to
// check it: the error is a *SQLError with the position and reason.
func Compile(sql string) error {
	_, err := compileSQL(sql)
	return err
}

func compileSQL(sql string) (*program, error) {
	st, err := parse(sql)
	if err != nil {
		return nil, err
	}
	p := &program{sql: sql, foreach: st.foreach}
	for _, s := range st.from {
		if s.event != 0 {
			p.kinds |= maskOf(s.event)
		} else {
			p.kinds |= publishKinds
			p.filters = append(p.filters, s.filter)
		}
	}
	c := &compiler{kinds: p.kinds}
	if st.groupBy != nil || st.having != nil {
		return p, p.compileWindowed(c, st)
	}
	defer func() { p.slots = c.slots }()
	if p.cols, err = c.columns(st.columns); err != nil {
		return nil, err
	}
	if st.where != nil {
		// WHERE sees the aliases (AS) first, then the event's fields.
		c.sel, c.usedSel = aliasRoots(st.columns), false
		if p.where, err = c.compile(st.where); err != nil {
			return nil, err
		}
		p.whereFirst = !c.usedSel
	}
	if st.foreach {
		return p, p.compileForeach(c, st)
	}
	return p, nil
}

// compileWindowed compiles a statement with GROUP BY: WHERE filters the
// events (it cannot read the columns, which are computed per window),
// then the window, the columns and HAVING.
func (p *program) compileWindowed(c *compiler, st *statement) error {
	if st.where != nil {
		w, err := c.compile(st.where)
		if err != nil {
			return err
		}
		p.where, p.whereFirst = w, true
	}
	if st.groupBy == nil {
		return invalidErr(st.having.pos(), "HAVING needs GROUP BY with a window")
	}
	err := p.compileWindow(c, st)
	p.slots = c.slots
	return err
}

func (p *program) compileForeach(c *compiler, st *statement) error {
	last := st.columns[len(st.columns)-1]
	p.itemName = "item"
	if last.alias != nil {
		p.itemName = last.alias[0].key
	}
	c.outer = rootsOf(p.cols)
	c.sel = nil
	c.item = p.itemName
	var err error
	if st.incase != nil {
		if p.incase, err = c.compile(st.incase); err != nil {
			return err
		}
	}
	p.do, err = c.columns(st.do)
	return err
}

// columns compiles a column list; each column sees the outputs of the
// columns before it.
func (c *compiler) columns(cols []column) ([]outCol, error) {
	out := make([]outCol, 0, len(cols))
	c.sel = map[string]bool{}
	for _, col := range cols {
		if col.star {
			// The event's fields: a name read after * gives the same value
			// from the event, so it need not be looked up among outputs.
			out = append(out, outCol{star: true})
			continue
		}
		fn, err := c.compile(col.x)
		if err != nil {
			return nil, err
		}
		oc := outCol{fn: fn, path: col.alias}
		if oc.path == nil {
			oc.path = implicitPath(col)
		}
		c.sel[oc.path[0].key] = true
		out = append(out, oc)
	}
	return out, nil
}

// implicitPath is where a column without an alias goes: a field or a
// constant path keeps its name and shape (payload.x[2] sets x[2] under
// payload), a string constant is named by its text, anything else by its
// source text.
func implicitPath(col column) []pathStep {
	if path := constPath(col.x); path != nil {
		return path
	}
	if lit, ok := col.x.(*litNode); ok {
		if s, ok := lit.v.AsString(); ok && s != "" {
			return []pathStep{{key: s}}
		}
	}
	return []pathStep{{key: col.text}}
}

// constPath returns the steps of a path made of a name, .keys and
// constant integer indexes (payload.x[2].y), or nil.
func constPath(n node) []pathStep {
	var rev []pathStep
	for {
		switch x := n.(type) {
		case *identNode:
			rev = append(rev, pathStep{key: x.name})
			slices.Reverse(rev)
			return rev
		case *dotNode:
			rev = append(rev, pathStep{key: x.name})
			n = x.x
		case *rangeNode:
			if x.x == nil {
				return nil
			}
			n = x.x
		case *indexNode:
			lit, ok := x.i.(*litNode)
			if !ok || lit.v.k != KindInt {
				return nil
			}
			rev = append(rev, pathStep{kind: stepIndex, index: lit.v.n})
			n = x.x
		default:
			return nil
		}
	}
}

// aliasRoots returns the first names of the columns' AS paths.
func aliasRoots(cols []column) map[string]bool {
	m := map[string]bool{}
	for _, c := range cols {
		if c.alias != nil {
			m[c.alias[0].key] = true
		}
	}
	return m
}

func rootsOf(cols []outCol) map[string]bool {
	m := map[string]bool{}
	for _, c := range cols {
		if !c.star {
			m[c.path[0].key] = true
		}
	}
	return m
}

// matches reports whether ev is one of the statement's sources.
func (p *program) matches(ev *msg.Event) bool {
	if !p.kinds.has(ev.Kind) {
		return false
	}
	if ev.Kind != msg.EventMessagePublished {
		return true
	}
	if ev.Message == nil {
		return false
	}
	for _, f := range p.filters {
		if topic.Match(f, ev.Message.Topic) {
			return true
		}
	}
	return false
}

// run evaluates the statement for one event (already matched) and appends
// its outputs to dst.
func (p *program) run(e *env, ruleID string, dst []Output) ([]Output, error) {
	e.ruleID = ruleID
	if p.where != nil && p.whereFirst {
		if ok, err := cond(e, p.where); err != nil || !ok {
			return dst, err
		}
	}
	if p.window != nil {
		e.accepted = true
		return p.runWindow(e, ruleID, dst) // window_state.go
	}
	if err := p.selectCols(e, p.cols); err != nil {
		return dst, err
	}
	if p.where != nil && !p.whereFirst {
		if ok, err := cond(e, p.where); err != nil || !ok {
			return dst, err
		}
	}
	if p.foreach {
		return p.runForeach(e, ruleID, dst)
	}
	return append(dst, p.output(e, ruleID, slices.Clone(e.sel))), nil
}

// selectCols evaluates cols into e.sel.
func (p *program) selectCols(e *env, cols []outCol) error {
	e.sel = e.sel[:0]
	for _, c := range cols {
		if c.star {
			e.sel = appendStar(e.sel, e.ev)
			continue
		}
		v, err := c.fn(e)
		if err != nil {
			return err
		}
		e.sel = putPath(e.sel, c.path, v)
		e.last = v
	}
	return nil
}

func cond(e *env, f evalFn) (bool, error) {
	v, err := f(e)
	if err != nil {
		return false, err
	}
	return truth(v)
}

// runForeach produces one output per element of the last FOREACH value
// (already in e.sel): a string is decoded as JSON; anything but an array
// gives no output.
func (p *program) runForeach(e *env, ruleID string, dst []Output) ([]Output, error) {
	v := e.last
	if v.k == KindString {
		v = decodeJSON(v.s)
	}
	arr, ok := v.AsArray()
	if !ok {
		return dst, nil
	}
	e.outer, e.sel = e.sel, e.outer[:0]
	for _, x := range arr {
		e.item = FromAny(x)
		if p.incase != nil {
			if ok, err := cond(e, p.incase); err != nil {
				return dst, err
			} else if !ok {
				continue
			}
		}
		var fs []Field
		if len(p.do) == 0 {
			fs = appendStar(nil, e.ev)
			for _, f := range e.outer {
				fs = setField(fs, f.Name, f.Value)
			}
			fs = setField(fs, p.itemName, e.item)
		} else {
			if err := p.selectCols(e, p.do); err != nil {
				return dst, err
			}
			fs = slices.Clone(e.sel)
		}
		dst = append(dst, p.output(e, ruleID, fs))
	}
	return dst, nil
}

func (p *program) output(e *env, ruleID string, fs []Field) Output {
	return Output{RuleID: ruleID, Event: e.ev.e, Fields: fs, ev: e.ev, now: e.now}
}

func setField(fs []Field, name string, v Value) []Field {
	for i := range fs {
		if fs[i].Name == name {
			fs[i].Value = v
			return fs
		}
	}
	return append(fs, Field{Name: name, Value: v})
}

// appendStar sets every field the event has (SELECT *).
func appendStar(fs []Field, ev *event) []Field {
	for _, name := range fieldOrder {
		if d := fields[name]; d.kinds.has(ev.e.Kind) {
			fs = setField(fs, name, d.get(ev))
		}
	}
	return fs
}

// evalProgram runs p against ev outside an Engine (Test).
func evalProgram(opts *EngineOptions, p *program, ev *msg.Event, now time.Time) ([]Output, error) {
	if !p.matches(ev) {
		return nil, ErrNoMatch
	}
	e := getEnv(opts, &event{e: ev}, now)
	defer putEnv(e)
	if p.window == nil && p.slots == 0 {
		return p.run(e, "", nil)
	}
	// A window or a deadband on one event: its own state, and the window
	// closed at once, as if no other event came.
	max := 0
	if opts != nil {
		max = opts.MaxState
	}
	e.st = newRuleState(max, p.slots)
	outs, err := p.run(e, "", nil)
	if err != nil || p.window == nil {
		return outs, err
	}
	outs = p.closeDue(opts, "", e.st, flushAll, outs, func(e error) { err = e })
	return outs, err
}
