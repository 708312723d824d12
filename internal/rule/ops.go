package rule

import (
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

// compare orders a and b: -1, 0 or 1, and ok=false when they cannot be
// ordered (null, mismatched kinds, arrays, objects).
func compare(a, b Value) (int, bool) {
	if a.k == KindNull || b.k == KindNull {
		return 0, false
	}
	if a.isNum() && b.isNum() {
		return compareNum(a, b), true
	}
	switch {
	case a.k == KindString && b.k == KindString:
		return strings.Compare(a.s, b.s), true
	case a.k == KindBool && b.k == KindBool:
		return int(a.n - b.n), true
	case a.isNum() && b.k == KindString:
		if nb, ok := parseNumber(b.s); ok {
			return compareNum(a, nb), true
		}
	case a.k == KindString && b.isNum():
		if na, ok := parseNumber(a.s); ok {
			return compareNum(na, b), true
		}
	}
	return 0, false
}

func compareNum(a, b Value) int {
	if a.k == KindInt && b.k == KindInt {
		switch {
		case a.n < b.n:
			return -1
		case a.n > b.n:
			return 1
		}
		return 0
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

// parseNumber reads a decimal number from s (surrounding spaces allowed).
func parseNumber(s string) (Value, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return Int(n), true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return Float(f), true
	}
	return Null, false
}

// equal is the = operator: null when either side is null; numbers compare
// by value (a string that reads as a number equals that number); arrays
// and objects compare deeply; other mixed kinds are not equal.
func equal(a, b Value) Value {
	if a.k == KindNull || b.k == KindNull {
		return Null
	}
	if c, ok := compare(a, b); ok {
		return Bool(c == 0)
	}
	if (a.k == KindArray || a.k == KindObject) && a.k == b.k {
		return Bool(deepEqual(a.x, b.x))
	}
	return Bool(false)
}

func deepEqual(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !deepEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !deepEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	c, ok := compare(FromAny(a), FromAny(b))
	return ok && c == 0
}

// order applies <, <=, > or >=; null when the operands cannot be ordered.
func order(op string, a, b Value) Value {
	c, ok := compare(a, b)
	if !ok {
		return Null
	}
	switch op {
	case "<":
		return Bool(c < 0)
	case "<=":
		return Bool(c <= 0)
	case ">":
		return Bool(c > 0)
	}
	return Bool(c >= 0)
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
