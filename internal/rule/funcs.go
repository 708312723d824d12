package rule

import (
	"sort"
	"strconv"
)

// funcSpec is one built-in function.
type funcSpec struct {
	min, max int // argument count; max -1: any number
	// nullable: the function sees null arguments; otherwise a null
	// argument makes the result null without calling fn.
	nullable bool
	fn       func(e *env, args []Value) (Value, error)
	// check validates constant arguments at compile time (may be nil);
	// lits[i] is nil for a non-constant argument.
	check func(lits []*Value) (argIndex int, err error)
	// doc is "signature — description", listed in docs/rules.md.
	doc string
}

// funcs is the function library, filled by the funcs_*.go files' init.
var funcs = map[string]*funcSpec{}

func register(name string, min, max int, fn func(e *env, args []Value) (Value, error)) *funcSpec {
	s := &funcSpec{min: min, max: max, fn: fn}
	funcs[name] = s
	return s
}

// pure registers a function of its arguments only.
func pure(name string, min, max int, fn func(args []Value) (Value, error)) *funcSpec {
	return register(name, min, max, func(_ *env, a []Value) (Value, error) { return fn(a) })
}

// FunctionNames lists the built-in functions, sorted.
func FunctionNames() []string {
	out := make([]string, 0, len(funcs))
	for n := range funcs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (c *compiler) call(n *callNode) (evalFn, error) {
	if kind, ok := c.aggregateCall(n); ok {
		if c.aggs == nil {
			return nil, invalidErr(n.p, n.name+" is an aggregate: it needs GROUP BY with a window, e.g. GROUP BY clientid, TUMBLINGWINDOW(mi, 1) (and not in WHERE: use HAVING)")
		}
		return c.aggregate(n, kind) // aggregate.go
	}
	if st, ok := statefulFuncs[n.name]; ok {
		return c.stateful(n, st) // rbe.go
	}
	spec, ok := funcs[n.name]
	if !ok {
		return nil, invalidErr(n.p, "unknown function '"+n.name+"'")
	}
	if len(n.args) < spec.min || spec.max >= 0 && len(n.args) > spec.max {
		return nil, invalidErr(n.p, n.name+" takes "+arity(spec)+", got "+strconv.Itoa(len(n.args)))
	}
	args, err := c.compileAll(n.args)
	if err != nil {
		return nil, err
	}
	if spec.check != nil {
		lits := make([]*Value, len(n.args))
		for i, a := range n.args {
			if l, ok := a.(*litNode); ok {
				lits[i] = &l.v
			}
		}
		if i, err := spec.check(lits); err != nil {
			return nil, invalidErr(n.args[i].pos(), n.name+": "+err.Error())
		}
	}
	name := n.name
	return func(e *env) (Value, error) {
		base := len(e.stack)
		defer func() { e.stack = e.stack[:base] }()
		for _, a := range args {
			v, err := a(e)
			if err != nil {
				return Null, err
			}
			if v.k == KindNull && !spec.nullable {
				return Null, nil
			}
			e.stack = append(e.stack, v)
		}
		v, err := spec.fn(e, e.stack[base:])
		if err != nil {
			return Null, evalErrf("%s: %s", name, err.Error())
		}
		return v, nil
	}, nil
}

func arity(s *funcSpec) string {
	switch {
	case s.max < 0:
		return "at least " + plural(s.min)
	case s.min == s.max:
		return plural(s.min)
	}
	return strconv.Itoa(s.min) + " to " + plural(s.max)
}

func plural(n int) string {
	if n == 1 {
		return "1 argument"
	}
	return strconv.Itoa(n) + " arguments"
}

// Argument helpers: each returns an error naming the argument's position.

// text returns a scalar argument as text (numbers and bools formatted).
func text(args []Value, i int) (string, error) {
	v := args[i]
	switch v.k {
	case KindString:
		return v.s, nil
	case KindInt, KindFloat, KindBool:
		return v.String(), nil
	}
	return "", argErr(i, v, "a string")
}

func integer(args []Value, i int) (int64, error) {
	v := args[i]
	switch v.k {
	case KindInt:
		return v.n, nil
	case KindFloat:
		if v.f == float64(int64(v.f)) {
			return int64(v.f), nil
		}
	case KindString:
		if n, err := strconv.ParseInt(v.s, 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, argErr(i, v, "an int")
}

func number(args []Value, i int) (float64, error) {
	v := args[i]
	if f, ok := v.AsFloat(); ok {
		return f, nil
	}
	if v.k == KindString {
		if n, ok := parseNumber(v.s); ok {
			f, _ := n.AsFloat()
			return f, nil
		}
	}
	return 0, argErr(i, v, "a number")
}

func array(args []Value, i int) ([]any, error) {
	if a, ok := args[i].AsArray(); ok {
		return a, nil
	}
	return nil, argErr(i, args[i], "an array")
}

func argErr(i int, v Value, want string) error {
	return evalErrf("argument %d is %s, not %s", i+1, v.k.a(), want)
}

// constString returns lits[i] as a string when it is a constant string.
func constString(lits []*Value, i int) (string, bool) {
	if i >= len(lits) || lits[i] == nil {
		return "", false
	}
	return lits[i].AsString()
}

func sortStrings(s []string) { sort.Strings(s) }
