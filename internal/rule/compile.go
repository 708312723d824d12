package rule

import (
	"slices"

	"github.com/iothub-dev/iothub/mqtt/topic"
)

// evalFn is a compiled expression. It runs on one goroutine's env and
// returns an error (wrapping ErrEval) only for run-time failures.
type evalFn func(e *env) (Value, error)

// compiler turns syntax trees into closures, resolving every name once.
//
// A name is looked up, in order: the FOREACH item (in DO and INCASE);
// the outputs selected so far (sel: earlier columns of the same SELECT,
// DO or FOREACH list, or the aliases when compiling WHERE); the FOREACH
// selection (outer, in DO and INCASE); the event's fields; metadata.
// A name that is none of these is undefined, as in EMQX.
type compiler struct {
	kinds   kindMask        // event kinds of the statement's sources
	sel     map[string]bool // names that may be in e.sel
	outer   map[string]bool // names that may be in e.outer
	item    string          // FOREACH item name, "" outside DO/INCASE
	usedSel bool            // an expression read e.sel
	// aggs collects the aggregates of a windowed statement's columns and
	// HAVING (nil elsewhere: an aggregate there is refused).
	aggs *[]aggSpec
	// slots counts the stateful calls (deadband, changed) of the
	// statement: each has its own state.
	slots int
}

func constFn(v Value) evalFn { return func(*env) (Value, error) { return v, nil } }

func (c *compiler) compile(n node) (evalFn, error) {
	switch n := n.(type) {
	case *litNode:
		return constFn(n.v), nil
	case *identNode:
		return c.ident(n), nil
	case *dotNode, *indexNode, *rangeNode:
		return c.path(n)
	case *callNode:
		return c.call(n)
	case *unaryNode:
		return c.unary(n)
	case *binaryNode:
		return c.binary(n)
	case *inNode:
		return c.in(n)
	case *isNullNode:
		return c.isNull(n)
	case *caseNode:
		return c.caseExpr(n)
	case *arrayNode:
		return c.array(n)
	}
	return nil, invalidErr(n.pos(), "unsupported expression")
}

// ident resolves a bare name (see compiler).
func (c *compiler) ident(n *identNode) evalFn {
	name := n.name
	if c.item != "" && name == c.item {
		return func(e *env) (Value, error) { return e.item, nil }
	}
	get := c.fieldOrUndefined(name)
	if c.outer[name] {
		inner := get
		get = func(e *env) (Value, error) {
			if v, ok := lookupField(e.outer, name); ok && !v.IsUndefined() {
				return v, nil
			}
			return inner(e)
		}
	}
	if c.sel[name] {
		c.usedSel = true
		inner := get
		get = func(e *env) (Value, error) {
			if v, ok := lookupField(e.sel, name); ok && !v.IsUndefined() {
				return v, nil
			}
			return inner(e)
		}
	}
	return get
}

// fieldOrUndefined returns the getter of the event field name, or of
// undefined when no source of the statement has it.
func (c *compiler) fieldOrUndefined(name string) evalFn {
	if name == "metadata" {
		return func(e *env) (Value, error) {
			return Object(map[string]any{"rule_id": e.ruleID}), nil
		}
	}
	d, ok := fields[name]
	if !ok || d.kinds&c.kinds == 0 {
		return constFn(Null)
	}
	get := d.get
	if d.kinds&c.kinds != c.kinds {
		kinds := d.kinds
		get = func(ev *event) Value {
			if !kinds.has(ev.e.Kind) {
				return Null
			}
			return d.get(ev)
		}
	}
	return func(e *env) (Value, error) { return get(e.ev), nil }
}

func lookupField(fs []Field, name string) (Value, bool) {
	for i := range fs {
		if fs[i].Name == name {
			return fs[i].Value, true
		}
	}
	return Null, false
}

// step is one access of a path: .key, [index] or [from..to].
type step struct {
	key      string
	idx      evalFn // nil for .key
	rng      bool   // [from..to]
	from, to int64
}

// maxPathSteps bounds a.b.c… chains.
const maxPathSteps = 256

// path compiles x.a[1].b: the steps are applied to the root's value. A
// path on the event's payload reads the payload's JSON, decoded once per
// event; a payload that is not JSON fails the evaluation.
func (c *compiler) path(n node) (evalFn, error) {
	var steps []step
	root := n
	for len(steps) <= maxPathSteps {
		switch x := root.(type) {
		case *dotNode:
			steps = append(steps, step{key: x.name})
			root = x.x
			continue
		case *indexNode:
			idx, err := c.compile(x.i)
			if err != nil {
				return nil, err
			}
			steps = append(steps, step{idx: idx})
			root = x.x
			continue
		case *rangeNode:
			if x.x == nil {
				return rangeArray(x.from, x.to), nil
			}
			steps = append(steps, step{rng: true, from: x.from, to: x.to})
			root = x.x
			continue
		}
		break
	}
	if len(steps) > maxPathSteps {
		return nil, invalidErr(n.pos(), "path too long")
	}
	slices.Reverse(steps)
	if id, ok := root.(*identNode); ok {
		return c.namePath(id.name, steps), nil
	}
	base, err := c.compile(root)
	if err != nil {
		return nil, err
	}
	return func(e *env) (Value, error) {
		v, err := base(e)
		if err != nil {
			return Null, err
		}
		return walk(e, v, steps)
	}, nil
}

// namePath compiles name.steps…: like EMQX, the path is tried on the
// outputs selected so far, then on the FOREACH selection, then on the
// event, until one gives a defined value. On the event's payload the path
// reads its JSON, decoded once per event; a payload that is not JSON
// fails the evaluation.
func (c *compiler) namePath(name string, steps []step) evalFn {
	if c.item != "" && name == c.item {
		return func(e *env) (Value, error) { return walk(e, e.item, steps) }
	}
	base := c.fieldOrUndefined(name)
	if name == "payload" && fields["payload"].kinds&c.kinds != 0 {
		base = func(e *env) (Value, error) {
			if e.ev.e.Message == nil {
				return Null, nil
			}
			v, ok := e.ev.json()
			if !ok {
				return Null, evalErrf("payload is not JSON")
			}
			return v, nil
		}
	}
	inSel, inOuter := c.sel[name], c.outer[name]
	c.usedSel = c.usedSel || inSel
	return func(e *env) (Value, error) {
		if inSel {
			if v, ok, err := walkField(e, e.sel, name, steps); ok {
				return v, err
			}
		}
		if inOuter {
			if v, ok, err := walkField(e, e.outer, name, steps); ok {
				return v, err
			}
		}
		v, err := base(e)
		if err != nil {
			return Null, err
		}
		return walk(e, v, steps)
	}
}

// walkField walks steps from the field name of fs; ok is false when that
// gives undefined, so that the caller tries the next place.
func walkField(e *env, fs []Field, name string, steps []step) (Value, bool, error) {
	v, found := lookupField(fs, name)
	if !found || v.IsUndefined() {
		return Null, false, nil
	}
	r, err := walk(e, v, steps)
	return r, err != nil || !r.IsUndefined(), err
}

// rangeArray returns [from, from+1, …, to].
func rangeArray(from, to int64) evalFn {
	n := max(0, min(to-from+1, maxRange))
	a := make([]any, 0, n)
	for i := int64(0); i < n; i++ {
		a = append(a, from+i)
	}
	return constFn(Array(a))
}

// maxRange bounds the array a [from..to] literal builds.
const maxRange = 1 << 16

// walk applies steps to v. A string is decoded as JSON before a step is
// applied to it; a missing key, an index out of range or a step into a
// scalar gives undefined; a JSON null gives null.
func walk(e *env, v Value, steps []step) (Value, error) {
	for _, s := range steps {
		if v.k == KindString {
			v = decodeJSON(v.s)
		}
		switch {
		case s.rng:
			a, ok := v.AsArray()
			if !ok {
				return Null, evalErrf("range of a %s, not an array", v.k)
			}
			r, err := sliceRange(a, s.from, s.to)
			if err != nil {
				return Null, err
			}
			v = Array(r)
		case s.idx == nil:
			m, _ := v.AsObject()
			x, found := m[s.key]
			if !found {
				v = Null // later steps see undefined; a range of it fails
				continue
			}
			v = FromAny(x)
		default:
			i, err := s.idx(e)
			if err != nil {
				return Null, err
			}
			if v, err = index(v, i); err != nil {
				return Null, err
			}
		}
	}
	return v, nil
}

// sliceRange returns a[from..to] with 1-based, inclusive ends; negative
// ends count from the end.
func sliceRange(a []any, from, to int64) ([]any, error) {
	n := int64(len(a))
	if from == 0 || to == 0 {
		return nil, evalErrf("range index 0 (indexes start at 1)")
	}
	if from < 0 {
		from += n + 1
	}
	if to < 0 {
		to += n + 1
	}
	from = max(from, 1)
	to = min(to, n)
	if from > to {
		return []any{}, nil
	}
	return a[from-1 : to], nil
}

// index returns v[i]: arrays are indexed from 1 (negative from the end),
// objects by string key.
func index(v, i Value) (Value, error) {
	switch v.k {
	case KindArray:
		n, ok := i.AsInt()
		if !ok {
			return Null, evalErrf("array index is %s, not an int", i.k.a())
		}
		a, _ := v.AsArray()
		return arrayAt(a, n), nil
	case KindObject:
		k, ok := i.AsString()
		if !ok {
			return Null, nil // as EMQX: an index into an object is undefined
		}
		m, _ := v.AsObject()
		x, found := m[k]
		if !found {
			return Null, nil
		}
		return FromAny(x), nil
	}
	return Null, nil
}

// arrayAt returns a[n] with 1-based n; -1 is the last element; out of
// range is undefined.
func arrayAt(a []any, n int64) Value {
	if n < 0 {
		n += int64(len(a)) + 1
	}
	if n < 1 || n > int64(len(a)) {
		return Null
	}
	return FromAny(a[n-1])
}

func (c *compiler) unary(n *unaryNode) (evalFn, error) {
	x, err := c.compile(n.x)
	if err != nil {
		return nil, err
	}
	if n.op == "-" {
		return func(e *env) (Value, error) {
			v, err := x(e)
			switch {
			case err != nil || v.k == KindNull:
				return Null, err
			case !v.isNum():
				return Null, evalErrf("cannot negate a %s", v.k)
			}
			return negate(v), nil
		}, nil
	}
	return func(e *env) (Value, error) {
		v, err := x(e)
		if err != nil {
			return Null, err
		}
		b, ok := v.AsBool()
		return Bool(ok && !b), nil // NOT of anything but a bool is false
	}, nil
}

func (c *compiler) binary(n *binaryNode) (evalFn, error) {
	l, err := c.compile(n.l)
	if err != nil {
		return nil, err
	}
	if n.op == "=~" {
		return c.topicMatch(n, l)
	}
	r, err := c.compile(n.r)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "and", "or":
		return logic(n.op == "and", l, r), nil
	case "=", "!=", "<", "<=", ">", ">=":
		op := n.op
		return func(e *env) (Value, error) {
			a, b, err := both(e, l, r)
			if err != nil {
				return Null, err
			}
			return apply(op, a, b)
		}, nil
	}
	op := n.op
	return func(e *env) (Value, error) {
		a, b, err := both(e, l, r)
		if err != nil {
			return Null, err
		}
		return arith(op, a, b)
	}, nil
}

func both(e *env, l, r evalFn) (Value, Value, error) {
	a, err := l(e)
	if err != nil {
		return Null, Null, err
	}
	b, err := r(e)
	return a, b, err
}

// logic is AND / OR, short-circuiting; null counts as false.
func logic(isAnd bool, l, r evalFn) evalFn {
	return func(e *env) (Value, error) {
		a, err := l(e)
		if err != nil {
			return Null, err
		}
		ab, err := truth(a)
		if err != nil {
			return Null, err
		}
		if ab != isAnd {
			return Bool(ab), nil // false AND …, true OR …
		}
		b, err := r(e)
		if err != nil {
			return Null, err
		}
		bb, err := truth(b)
		return Bool(bb), err
	}
}

// topicMatch compiles t =~ 'filter': whether topic name t matches the
// filter. A constant filter is checked here.
func (c *compiler) topicMatch(n *binaryNode, l evalFn) (evalFn, error) {
	if lit, ok := n.r.(*litNode); ok {
		f, isStr := lit.v.AsString()
		if !isStr {
			return nil, invalidErr(lit.p, "=~ needs a topic filter string on its right")
		}
		if err := topic.ValidateFilter(f); err != nil {
			return nil, invalidErr(lit.p, "bad topic filter '"+f+"': "+err.Error())
		}
	}
	r, err := c.compile(n.r)
	if err != nil {
		return nil, err
	}
	return func(e *env) (Value, error) {
		a, b, err := both(e, l, r)
		if err != nil || a.k == KindNull || b.k == KindNull {
			return Bool(false), err
		}
		name, ok1 := a.AsString()
		filter, ok2 := b.AsString()
		if !ok1 || !ok2 {
			return Null, evalErrf("=~ needs two strings, got %s and %s", a.k, b.k)
		}
		return Bool(topic.Match(filter, name)), nil
	}, nil
}

func (c *compiler) in(n *inNode) (evalFn, error) {
	x, err := c.compile(n.x)
	if err != nil {
		return nil, err
	}
	list, err := c.compileAll(n.list)
	if err != nil {
		return nil, err
	}
	not := n.not
	return func(e *env) (Value, error) {
		v, err := x(e)
		if err != nil {
			return Null, err
		}
		for _, f := range list {
			w, err := f(e)
			if err != nil {
				return Null, err
			}
			if strictEqual(v, w) {
				return Bool(!not), nil
			}
		}
		return Bool(not), nil
	}, nil
}

func (c *compiler) compileAll(nodes []node) ([]evalFn, error) {
	out := make([]evalFn, len(nodes))
	for i, n := range nodes {
		f, err := c.compile(n)
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

func (c *compiler) isNull(n *isNullNode) (evalFn, error) {
	x, err := c.compile(n.x)
	if err != nil {
		return nil, err
	}
	not := n.not
	return func(e *env) (Value, error) {
		v, err := x(e)
		if err != nil {
			return Null, err
		}
		return Bool((v.k == KindNull) != not), nil
	}, nil
}

func (c *compiler) caseExpr(n *caseNode) (evalFn, error) {
	var subject evalFn
	var err error
	if n.subject != nil {
		if subject, err = c.compile(n.subject); err != nil {
			return nil, err
		}
	}
	conds := make([]evalFn, len(n.whens))
	thens := make([]evalFn, len(n.whens))
	for i, w := range n.whens {
		if conds[i], err = c.compile(w.cond); err != nil {
			return nil, err
		}
		if thens[i], err = c.compile(w.then); err != nil {
			return nil, err
		}
	}
	els := constFn(Null)
	if n.els != nil {
		if els, err = c.compile(n.els); err != nil {
			return nil, err
		}
	}
	return func(e *env) (Value, error) {
		var subj Value
		if subject != nil {
			s, err := subject(e)
			if err != nil {
				return Null, err
			}
			subj = s
		}
		for i, cond := range conds {
			v, err := cond(e)
			if err != nil {
				return Null, err
			}
			if subject != nil {
				if strictEqual(subj, v) {
					return thens[i](e)
				}
				continue
			}
			if b, err := truth(v); err != nil {
				return Null, err
			} else if b {
				return thens[i](e)
			}
		}
		return els(e)
	}, nil
}

func (c *compiler) array(n *arrayNode) (evalFn, error) {
	elems, err := c.compileAll(n.elems)
	if err != nil {
		return nil, err
	}
	return func(e *env) (Value, error) {
		a := make([]any, len(elems))
		for i, f := range elems {
			v, err := f(e)
			if err != nil {
				return Null, err
			}
			a[i] = v.Any()
		}
		return Array(a), nil
	}, nil
}

// decodeJSON decodes s, giving null when it is not JSON.
func decodeJSON(s string) Value {
	var x any
	if err := jsonUnmarshalString(s, &x); err != nil {
		return Null
	}
	return FromAny(x)
}
