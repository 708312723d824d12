package rule

import (
	"maps"
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

	star       bool
	cols       []outCol
	where      evalFn // nil: no WHERE
	whereFirst bool   // WHERE reads no alias, so it runs before the columns

	foreach evalFn // non-nil for FOREACH
	incase  evalFn
}

// outCol is one output column: its name, and for a bare path without an
// alias (payload.a.b) the nested names under which the value goes.
type outCol struct {
	name string
	path []string
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
	p := &program{sql: sql, star: st.star}
	for _, s := range st.from {
		if s.event != 0 {
			p.kinds |= maskOf(s.event)
		} else {
			p.kinds |= publishKinds
			p.filters = append(p.filters, s.filter)
		}
	}
	c := &compiler{kinds: p.kinds}
	if st.foreach != nil {
		return p, p.compileForeach(c, st)
	}
	if p.cols, err = c.columns(st.columns); err != nil {
		return nil, err
	}
	if st.where != nil {
		c.aliases = map[string]int{}
		for i, col := range st.columns {
			if col.alias != "" {
				c.aliases[col.alias] = i
			}
		}
		if p.where, err = c.compile(st.where); err != nil {
			return nil, err
		}
		p.whereFirst = !c.usedCols
	}
	return p, nil
}

func (p *program) compileForeach(c *compiler, st *statement) error {
	var err error
	if st.where != nil {
		if p.where, err = c.compile(st.where); err != nil {
			return err
		}
		p.whereFirst = true
	}
	if p.foreach, err = c.compile(st.foreach); err != nil {
		return err
	}
	c.item = "item"
	if st.foreachAs != "" {
		c.item = st.foreachAs
	}
	if st.incase != nil {
		if p.incase, err = c.compile(st.incase); err != nil {
			return err
		}
	}
	p.cols, err = c.columns(st.columns)
	return err
}

func (c *compiler) columns(cols []column) ([]outCol, error) {
	out := make([]outCol, 0, len(cols))
	for _, col := range cols {
		fn, err := c.compile(col.x)
		if err != nil {
			return nil, err
		}
		oc := outCol{name: col.alias, fn: fn}
		if oc.name == "" {
			if path := barePath(col.x); path != nil {
				oc.name, oc.path = path[0], path
				if len(path) == 1 {
					oc.path = nil
				}
			} else {
				oc.name = col.text
			}
		}
		out = append(out, oc)
	}
	return out, nil
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
	if p.where != nil && p.whereFirst {
		if ok, err := cond(e, p.where); err != nil || !ok {
			return dst, err
		}
	}
	if p.foreach != nil {
		return p.runForeach(e, ruleID, dst)
	}
	if p.star {
		return append(dst, p.output(e, ruleID, starFields(e.ev))), nil
	}
	if err := p.evalCols(e); err != nil {
		return dst, err
	}
	if p.where != nil && !p.whereFirst {
		if ok, err := cond(e, p.where); err != nil || !ok {
			return dst, err
		}
	}
	return append(dst, p.output(e, ruleID, p.build(e.cols))), nil
}

func (p *program) evalCols(e *env) error {
	e.cols = e.cols[:0]
	for _, c := range p.cols {
		v, err := c.fn(e)
		if err != nil {
			return err
		}
		e.cols = append(e.cols, v)
	}
	return nil
}

func cond(e *env, f evalFn) (bool, error) {
	v, err := f(e)
	if err != nil {
		return false, err
	}
	b, known, err := truth(v)
	return b && known, err
}

func (p *program) runForeach(e *env, ruleID string, dst []Output) ([]Output, error) {
	v, err := p.foreach(e)
	if err != nil {
		return dst, err
	}
	if v.k == KindString {
		v = decodeJSON(v.s)
	}
	arr, ok := v.AsArray()
	if !ok {
		if v.k == KindNull {
			return dst, nil
		}
		return dst, evalErrf("FOREACH needs an array, got a %s", v.k)
	}
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
		if len(p.cols) == 0 {
			fs = itemFields(e.item)
		} else {
			if err := p.evalCols(e); err != nil {
				return dst, err
			}
			fs = p.build(e.cols)
		}
		dst = append(dst, p.output(e, ruleID, fs))
	}
	return dst, nil
}

// itemFields is the output of FOREACH without DO: an object's keys, or
// the element as "item".
func itemFields(v Value) []Field {
	m, ok := v.AsObject()
	if !ok {
		return []Field{{Name: "item", Value: v}}
	}
	keys, _ := sortedKeys(m).AsArray()
	fs := make([]Field, len(keys))
	for i, k := range keys {
		fs[i] = Field{Name: k.(string), Value: FromAny(m[k.(string)])}
	}
	return fs
}

func (p *program) output(e *env, ruleID string, fs []Field) Output {
	return Output{RuleID: ruleID, Event: e.ev.e, Fields: fs, ev: e.ev, now: e.now}
}

// build turns column values into output fields, nesting bare paths.
func (p *program) build(vals []Value) []Field {
	fs := make([]Field, 0, len(vals))
	for i, c := range p.cols {
		if c.path == nil {
			fs = setField(fs, c.name, vals[i])
			continue
		}
		var root map[string]any
		for _, f := range fs {
			if m, ok := f.Value.AsObject(); ok && f.Name == c.name {
				root = maps.Clone(m)
			}
		}
		if root == nil {
			root = map[string]any{}
		}
		setPath(root, c.path[1:], vals[i].Any())
		fs = setField(fs, c.name, Object(root))
	}
	return fs
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

func setPath(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if ok {
			next = maps.Clone(next)
		} else {
			next = map[string]any{}
		}
		m[k] = next
		m = next
	}
	m[path[len(path)-1]] = v
}

// starFields is the output of SELECT *: every field the event has.
func starFields(ev *event) []Field {
	fs := make([]Field, 0, len(fieldOrder))
	for _, name := range fieldOrder {
		if d := fields[name]; d.kinds.has(ev.e.Kind) {
			fs = append(fs, Field{Name: name, Value: d.get(ev)})
		}
	}
	return fs
}

// evalProgram runs p against ev outside an Engine (Test).
func evalProgram(p *program, ev *msg.Event, now time.Time) ([]Output, error) {
	if !p.matches(ev) {
		return nil, ErrNoMatch
	}
	e := getEnv(&event{e: ev}, now)
	defer putEnv(e)
	return p.run(e, "", nil)
}
