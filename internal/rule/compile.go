package rule

import "github.com/iothub-dev/iothub/mqtt/topic"

// evalFn is a compiled expression. It runs on one goroutine's env and
// returns an error (wrapping ErrEval) only for run-time failures.
type evalFn func(e *env) (Value, error)

// compiler turns syntax trees into closures, resolving every name once.
type compiler struct {
	kinds    kindMask       // event kinds of the statement's sources
	aliases  map[string]int // SELECT aliases visible to WHERE → column index
	item     string         // FOREACH item name, "" outside DO/INCASE
	usedCols bool           // WHERE read an alias
}

func constFn(v Value) evalFn { return func(*env) (Value, error) { return v, nil } }

func (c *compiler) compile(n node) (evalFn, error) {
	switch n := n.(type) {
	case *litNode:
		return constFn(n.v), nil
	case *identNode:
		return c.ident(n)
	case *dotNode, *indexNode:
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

func (c *compiler) ident(n *identNode) (evalFn, error) {
	if c.item != "" && n.name == c.item {
		return func(e *env) (Value, error) { return e.item, nil }, nil
	}
	if i, ok := c.aliases[n.name]; ok {
		c.usedCols = true
		return func(e *env) (Value, error) { return e.cols[i], nil }, nil
	}
	d, ok := fields[n.name]
	if !ok {
		return nil, invalidErr(n.p, "unknown field '"+n.name+"'")
	}
	if d.kinds&c.kinds == 0 {
		return nil, invalidErr(n.p, "field '"+n.name+"' is not available for the sources in FROM")
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
	return func(e *env) (Value, error) { return get(e.ev), nil }, nil
}

// step is one access of a path: .name, or [index].
type step struct {
	key string
	idx evalFn // nil for .key
}

// maxPathSteps bounds a.b.c… chains.
const maxPathSteps = 256

// path compiles x.a[1].b: the steps are applied to the root's value. A
// path on the payload field reads the payload's JSON, decoded once per
// event.
func (c *compiler) path(n node) (evalFn, error) {
	var steps []step
	root := n
	for {
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
		}
		break
	}
	if len(steps) > maxPathSteps {
		return nil, invalidErr(n.pos(), "path too long")
	}
	for i, j := 0, len(steps)-1; i < j; i, j = i+1, j-1 {
		steps[i], steps[j] = steps[j], steps[i]
	}
	if id, ok := root.(*identNode); ok && id.name == "payload" && c.isField(id.name) {
		if fields["payload"].kinds&c.kinds == 0 {
			return nil, invalidErr(id.p, "field 'payload' is not available for the sources in FROM")
		}
		return func(e *env) (Value, error) { return walk(e, e.ev.json(), steps) }, nil
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

// isField reports whether name resolves to the event field (not an alias
// or the FOREACH item).
func (c *compiler) isField(name string) bool {
	_, alias := c.aliases[name]
	return !alias && (c.item == "" || name != c.item)
}

// walk applies steps to v. A string is decoded as JSON before a step is
// applied to it; a missing key, an index out of range or a step into a
// scalar gives null.
func walk(e *env, v Value, steps []step) (Value, error) {
	for _, s := range steps {
		if v.k == KindString {
			v = decodeJSON(v.s)
		}
		if s.idx == nil {
			m, ok := v.AsObject()
			if !ok {
				return Null, nil
			}
			v = FromAny(m[s.key])
			continue
		}
		i, err := s.idx(e)
		if err != nil {
			return Null, err
		}
		if v, err = index(v, i); err != nil {
			return Null, err
		}
	}
	return v, nil
}

// index returns v[i]: arrays are indexed from 1 (negative from the end),
// objects by string key.
func index(v, i Value) (Value, error) {
	switch v.k {
	case KindArray:
		n, ok := i.AsInt()
		if !ok {
			return Null, evalErrf("array index is a %s, not an int", i.k)
		}
		a, _ := v.AsArray()
		return arrayAt(a, n), nil
	case KindObject:
		k, ok := i.AsString()
		if !ok {
			return Null, evalErrf("object key is a %s, not a string", i.k)
		}
		m, _ := v.AsObject()
		return FromAny(m[k]), nil
	}
	return Null, nil
}

// arrayAt returns a[n] with 1-based n; -1 is the last element.
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
		b, known, err := truth(v)
		if err != nil || !known {
			return Null, err
		}
		return Bool(!b), nil
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
	case "=", "!=":
		neg := n.op == "!="
		return func(e *env) (Value, error) {
			a, b, err := both(e, l, r)
			if err != nil {
				return Null, err
			}
			v := equal(a, b)
			if neg && v.k == KindBool {
				v.n ^= 1
			}
			return v, nil
		}, nil
	case "<", "<=", ">", ">=":
		op := n.op
		return func(e *env) (Value, error) {
			a, b, err := both(e, l, r)
			if err != nil {
				return Null, err
			}
			return order(op, a, b), nil
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

// logic is SQL's three-valued AND / OR, short-circuiting.
func logic(isAnd bool, l, r evalFn) evalFn {
	return func(e *env) (Value, error) {
		a, err := l(e)
		if err != nil {
			return Null, err
		}
		ab, aKnown, err := truth(a)
		if err != nil {
			return Null, err
		}
		if aKnown && ab != isAnd {
			return Bool(ab), nil // false AND …, true OR …
		}
		b, err := r(e)
		if err != nil {
			return Null, err
		}
		bb, bKnown, err := truth(b)
		switch {
		case err != nil:
			return Null, err
		case bKnown && bb != isAnd:
			return Bool(bb), nil
		case aKnown && bKnown:
			return Bool(isAnd), nil
		}
		return Null, nil
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
			return Null, err
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
		sawNull := false
		for _, f := range list {
			w, err := f(e)
			if err != nil {
				return Null, err
			}
			eq := equal(v, w)
			if eq.k == KindNull {
				sawNull = true
			} else if eq.n == 1 {
				return Bool(!not), nil
			}
		}
		if sawNull {
			return Null, nil
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
				v = equal(subj, v)
			}
			if b, known, err := truth(v); err != nil {
				return Null, err
			} else if known && b {
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

// barePath returns the names of a path made only of .name steps from a
// field (payload.location.latitude → payload, location, latitude), or nil.
func barePath(n node) []string {
	var names []string
	for {
		switch x := n.(type) {
		case *dotNode:
			names = append(names, x.name)
			n = x.x
			continue
		case *identNode:
			names = append(names, x.name)
			for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
				names[i], names[j] = names[j], names[i]
			}
			return names
		}
		return nil
	}
}
