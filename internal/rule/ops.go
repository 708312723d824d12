package rule

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// EvalError is a run-time failure of an expression; it wraps ErrEval.
type EvalError struct{ Msg string }

// Error returns the message.
func (e *EvalError) Error() string { return e.Msg }

// Unwrap returns ErrEval.
func (e *EvalError) Unwrap() error { return ErrEval }

func evalErrf(format string, args ...any) error {
	return &EvalError{Msg: fmt.Sprintf(format, args...)}
}

// Comparison follows EMQX's rule engine:
//
//   - an undefined value (a missing field or key) equals only another
//     undefined value; any other comparison with it is false;
//   - a number and a string compare as numbers, and a string that is not
//     a number fails the evaluation ('hello' > 1);
//   - a bool or a JSON null and a string compare as text (true = 'true');
//   - values of other kinds compare in Erlang's term order: numbers <
//     bools and null < objects < arrays < strings (strings byte-wise).

// rank orders kinds as Erlang orders terms.
func rank(v Value) int {
	switch v.k {
	case KindInt, KindFloat:
		return 0
	case KindBool, KindNull:
		return 1
	case KindObject:
		return 2
	case KindArray:
		return 3
	}
	return 4
}

// atomName is the name of a bool or JSON null, as EMQX compares it.
func atomName(v Value) string {
	if v.k == KindNull {
		return "null"
	}
	return strconv.FormatBool(v.n != 0)
}

// compare orders a and b: -1, 0 or 1. defined is false when exactly one
// side is undefined (every comparison is then false); err is set when a
// string that is not a number is compared with a number.
func compare(a, b Value) (c int, defined bool, err error) {
	ua, ub := a.IsUndefined(), b.IsUndefined()
	switch {
	case ua && ub:
		return 0, true, nil
	case ua || ub:
		return 0, false, nil
	case a.isNum() && b.isNum():
		return compareNum(a, b), true, nil
	case a.isNum() && b.k == KindString:
		nb, ok := parseNumber(b.s)
		if !ok {
			return 0, false, evalErrf("cannot compare a number with '%s'", b.s)
		}
		return compareNum(a, nb), true, nil
	case a.k == KindString && b.isNum():
		na, ok := parseNumber(a.s)
		if !ok {
			return 0, false, evalErrf("cannot compare '%s' with a number", a.s)
		}
		return compareNum(na, b), true, nil
	case rank(a) == 1 && b.k == KindString:
		return strings.Compare(atomName(a), b.s), true, nil
	case a.k == KindString && rank(b) == 1:
		return strings.Compare(a.s, atomName(b)), true, nil
	}
	return termCompare(a, b), true, nil
}

// termCompare orders two defined values in Erlang's term order (numbers
// by value, 1 = 1.0).
func termCompare(a, b Value) int {
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return cmp.Compare(int64(ra), int64(rb))
	}
	switch ra {
	case 0:
		return compareNum(a, b)
	case 1:
		return strings.Compare(atomName(a), atomName(b))
	case 2:
		ma, _ := a.AsObject()
		mb, _ := b.AsObject()
		return compareObjects(ma, mb)
	case 3:
		xa, _ := a.AsArray()
		xb, _ := b.AsArray()
		for i := 0; i < len(xa) && i < len(xb); i++ {
			if c := termCompare(FromAny(xa[i]), FromAny(xb[i])); c != 0 {
				return c
			}
		}
		return cmp.Compare(int64(len(xa)), int64(len(xb)))
	}
	return strings.Compare(a.s, b.s)
}

// compareObjects orders maps as Erlang does: by size, then by sorted keys,
// then by values in key order.
func compareObjects(a, b map[string]any) int {
	if c := cmp.Compare(int64(len(a)), int64(len(b))); c != 0 {
		return c
	}
	ka, kb := sortedKeyList(a), sortedKeyList(b)
	for i := range ka {
		if c := strings.Compare(ka[i], kb[i]); c != 0 {
			return c
		}
	}
	for _, k := range ka {
		if c := termCompare(FromAny(a[k]), FromAny(b[k])); c != 0 {
			return c
		}
	}
	return 0
}
func compareNum(a, b Value) int {
	if a.k == KindInt && b.k == KindInt {
		return cmp.Compare(a.n, b.n)
	}
	fa, _ := a.AsFloat()
	fb, _ := b.AsFloat()
	switch {
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}

// parseNumber reads a decimal integer or float from s, as Erlang's
// binary_to_integer and binary_to_float do (no surrounding spaces).
func parseNumber(s string) (Value, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return Int(n), true
	}
	if strings.ContainsAny(s, " \t\n\r_") || strings.HasPrefix(s, "0x") {
		return Null, false
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return Float(f), true
	}
	return Null, false
}

// apply evaluates comparison op on a and b: always a bool, or an error.
func apply(op string, a, b Value) (Value, error) {
	c, defined, err := compare(a, b)
	if err != nil || !defined {
		return Bool(false), err
	}
	switch op {
	case "=":
		return Bool(c == 0), nil
	case "!=":
		return Bool(c != 0), nil
	case "<":
		return Bool(c < 0), nil
	case "<=":
		return Bool(c <= 0), nil
	case ">":
		return Bool(c > 0), nil
	}
	return Bool(c >= 0), nil
}

// strictEqual is Erlang's =:= (IN and CASE x WHEN use it): same kind and
// value, an int never equals a float, and no conversion of strings.
func strictEqual(a, b Value) bool {
	if a.k != b.k || a.k == KindNull && a.n != b.n {
		return false
	}
	switch a.k {
	case KindArray:
		xa, _ := a.AsArray()
		xb, _ := b.AsArray()
		if len(xa) != len(xb) {
			return false
		}
		for i := range xa {
			if !strictEqual(FromAny(xa[i]), FromAny(xb[i])) {
				return false
			}
		}
		return true
	case KindObject:
		ma, _ := a.AsObject()
		mb, _ := b.AsObject()
		if len(ma) != len(mb) {
			return false
		}
		for k, x := range ma {
			y, ok := mb[k]
			if !ok || !strictEqual(FromAny(x), FromAny(y)) {
				return false
			}
		}
		return true
	}
	return a == b
}

// arith applies + - * / div mod.
func arith(op string, a, b Value) (Value, error) {
	if a.k == KindNull || b.k == KindNull {
		return Null, nil
	}
	if op == "+" && (a.k == KindString || b.k == KindString) {
		return String(a.String() + b.String()), nil
	}
	if !a.isNum() || !b.isNum() {
		return Null, evalErrf("cannot apply %s to %s and %s", op, a.k, b.k)
	}
	if a.k == KindInt && b.k == KindInt {
		return intArith(op, a.n, b.n)
	}
	fa, _ := a.AsFloat()
	fb, _ := b.AsFloat()
	switch op {
	case "+":
		return Float(fa + fb), nil
	case "-":
		return Float(fa - fb), nil
	case "*":
		return Float(fa * fb), nil
	case "/":
		if fb == 0 {
			return Null, evalErrf("division by zero")
		}
		return Float(fa / fb), nil
	}
	return Null, evalErrf("%s needs two ints, got %s and %s", op, a.k, b.k)
}

func intArith(op string, x, y int64) (Value, error) {
	switch op {
	case "+":
		if s := x + y; (s > x) == (y > 0) {
			return Int(s), nil
		}
		return Float(float64(x) + float64(y)), nil
	case "-":
		if d := x - y; (d < x) == (y > 0) {
			return Int(d), nil
		}
		return Float(float64(x) - float64(y)), nil
	case "*":
		if x == 0 || y == 0 {
			return Int(0), nil
		}
		if p := x * y; p/y == x && !(x == -1 && y == math.MinInt64) && !(y == -1 && x == math.MinInt64) {
			return Int(p), nil
		}
		return Float(float64(x) * float64(y)), nil
	case "/":
		if y == 0 {
			return Null, evalErrf("division by zero")
		}
		return Float(float64(x) / float64(y)), nil
	}
	if y == 0 {
		return Null, evalErrf("division by zero")
	}
	if x == math.MinInt64 && y == -1 {
		return Null, evalErrf("integer overflow")
	}
	if op == "div" {
		return Int(x / y), nil
	}
	return Int(x % y), nil
}
