package rule

import "math"

// Aggregates over a window's events: avg, sum, count, min, max, first and
// last. Inside a statement with GROUP BY a window, a call of one of them
// with one argument (count also takes *) is an aggregate; elsewhere min,
// max, first and last keep their meaning of functions of their arguments.

type aggKind uint8

const (
	aggAvg aggKind = iota + 1
	aggSum
	aggCount
	aggMin
	aggMax
	aggFirst
	aggLast
)

var aggNames = map[string]aggKind{
	"avg": aggAvg, "sum": aggSum, "count": aggCount, "min": aggMin, "max": aggMax, "first": aggFirst, "last": aggLast,
}

// aggSpec is one aggregate call: its kind and argument (nil for count(*)).
type aggSpec struct {
	kind aggKind
	arg  evalFn
}

// acc accumulates one aggregate over a window's events.
type acc struct {
	kind aggKind
	n    int64   // values counted (count; avg, sum: numbers seen)
	sum  float64 // avg, sum
	isum int64   // sum while every number is an int
	ints bool    // every number summed so far is an int
	v    Value   // min, max, first, last
	seen bool    // v is set
}

// add takes one event's argument value (null for count(*)).
func (a *acc) add(v Value, star bool) {
	switch a.kind {
	case aggCount:
		if star || v.k != KindNull {
			a.n++
		}
	case aggAvg, aggSum:
		a.addNumber(v)
	case aggMin, aggMax:
		if !v.isNum() {
			return
		}
		if !a.seen || (a.kind == aggMin) == less(v, a.v) {
			a.v, a.seen = v, true
		}
	case aggFirst:
		if !a.seen {
			a.v, a.seen = v, true
		}
	case aggLast:
		a.v, a.seen = v, true
	}
}

func (a *acc) addNumber(v Value) {
	f, ok := v.AsFloat()
	if !ok {
		return // nulls and non-numbers are left out, as in SQL
	}
	if a.n == 0 {
		a.ints = true
	}
	a.n++
	a.sum += f
	if v.k == KindInt && a.ints {
		s := a.isum + v.n
		if (s > a.isum) == (v.n > 0) || v.n == 0 {
			a.isum = s
			return
		}
	}
	a.ints = false
}

// less reports whether number a is below number b.
func less(a, b Value) bool {
	if a.k == KindInt && b.k == KindInt {
		return a.n < b.n
	}
	x, _ := a.AsFloat()
	y, _ := b.AsFloat()
	return x < y
}

// value is the aggregate's result: null for avg, sum, min and max over
// no number; count is 0 then.
func (a *acc) value() Value {
	switch a.kind {
	case aggCount:
		return Int(a.n)
	case aggAvg:
		if a.n == 0 {
			return Null
		}
		return Float(a.sum / float64(a.n))
	case aggSum:
		switch {
		case a.n == 0:
			return Null
		case a.ints:
			return Int(a.isum)
		}
		if math.IsInf(a.sum, 0) {
			return Null
		}
		return Float(a.sum)
	}
	return a.v
}

// aggregate compiles an aggregate call: its argument is compiled now (it
// is evaluated on each event entering the window) and the call reads the
// group's result.
func (c *compiler) aggregate(n *callNode, kind aggKind) (evalFn, error) {
	spec := aggSpec{kind: kind}
	if id, ok := n.args[0].(*identNode); ok && id.name == "*" {
		if kind != aggCount {
			return nil, invalidErr(n.p, n.name+"(*) is not an aggregate; only count(*) is")
		}
	} else {
		aggs := c.aggs
		c.aggs = nil // no aggregate inside an aggregate
		arg, err := c.compile(n.args[0])
		c.aggs = aggs
		if err != nil {
			return nil, err
		}
		spec.arg = arg
	}
	i := len(*c.aggs)
	*c.aggs = append(*c.aggs, spec)
	return func(e *env) (Value, error) {
		if i >= len(e.aggs) {
			return Null, nil
		}
		return e.aggs[i], nil
	}, nil
}

// aggregateCall returns the kind when n is an aggregate in this
// statement.
func (c *compiler) aggregateCall(n *callNode) (aggKind, bool) {
	kind, ok := aggNames[n.name]
	if !ok || len(n.args) != 1 {
		return 0, false
	}
	if c.aggs == nil {
		// avg, sum and count are only aggregates; min, max, first and last
		// are functions outside windows.
		return kind, kind == aggAvg || kind == aggSum || kind == aggCount
	}
	return kind, true
}
