package rule

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Kind is the type of a Value.
type Kind uint8

// The kinds of values. JSON numbers decode to Int when they are whole and
// within ±2^53, otherwise to Float.
const (
	KindNull Kind = iota
	KindBool
	KindInt
	KindFloat
	KindString
	KindArray
	KindObject
)

var kindNames = [...]string{"null", "bool", "int", "float", "string", "array", "object"}

// String returns the kind's name as error messages and docs use it.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// a is the kind's name with its article, for messages: "an int", "a string".
func (k Kind) a() string {
	name := k.String()
	if strings.ContainsRune("aeiou", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}

// Value is one dynamically typed value of the rule language. Scalars are
// held inline, so passing a Value around does not allocate; arrays and
// objects are []any and map[string]any trees (as encoding/json builds them)
// and are never modified once built.
//
// Like EMQX, the language tells two nulls apart: the zero Value (Null) is
// "undefined", what a missing field or key gives; JSONNull is a null that
// was written in JSON. Both have KindNull and encode as JSON null; they
// differ for is_null, comparisons and coalesce.
type Value struct {
	k Kind
	n int64   // bool (0/1) and int
	f float64 // float
	s string  // string
	x any     // []any or map[string]any
}

// Null is the undefined value (a missing field or key).
var Null = Value{}

// JSONNull is a null read from JSON.
var JSONNull = Value{k: KindNull, n: 1}

// Bool returns a bool value.
func Bool(b bool) Value {
	if b {
		return Value{k: KindBool, n: 1}
	}
	return Value{k: KindBool}
}

// Int returns an int value.
func Int(n int64) Value { return Value{k: KindInt, n: n} }

// Float returns a float value.
func Float(f float64) Value { return Value{k: KindFloat, f: f} }

// String returns a string value. Strings hold arbitrary bytes (a binary
// payload is a string).
func String(s string) Value { return Value{k: KindString, s: s} }

// Array returns an array value; a must not be modified afterwards.
func Array(a []any) Value { return Value{k: KindArray, x: a} }

// Object returns an object value; m must not be modified afterwards.
func Object(m map[string]any) Value { return Value{k: KindObject, x: m} }

// Kind returns v's kind.
func (v Value) Kind() Kind { return v.k }

// IsNull reports whether v is null: undefined or a JSON null.
func (v Value) IsNull() bool { return v.k == KindNull }

// IsUndefined reports whether v is the undefined value (not a JSON null).
func (v Value) IsUndefined() bool { return v.k == KindNull && v.n == 0 }

// AsBool returns the bool and whether v is a bool.
func (v Value) AsBool() (bool, bool) { return v.n != 0, v.k == KindBool }

// AsInt returns the int and whether v is an int.
func (v Value) AsInt() (int64, bool) { return v.n, v.k == KindInt }

// AsFloat returns v as a float64 and whether v is a number (int or float).
func (v Value) AsFloat() (float64, bool) {
	switch v.k {
	case KindInt:
		return float64(v.n), true
	case KindFloat:
		return v.f, true
	}
	return 0, false
}

// AsString returns the string and whether v is a string.
func (v Value) AsString() (string, bool) { return v.s, v.k == KindString }

// AsArray returns the elements and whether v is an array.
func (v Value) AsArray() ([]any, bool) {
	a, ok := v.x.([]any)
	return a, ok && v.k == KindArray
}

// AsObject returns the map and whether v is an object.
func (v Value) AsObject() (map[string]any, bool) {
	m, ok := v.x.(map[string]any)
	return m, ok && v.k == KindObject
}

// isNum reports whether v is an int or a float.
func (v Value) isNum() bool { return v.k == KindInt || v.k == KindFloat }

// Any returns v as the Go value encoding/json would produce: nil, bool,
// int64, float64, string, []any or map[string]any.
func (v Value) Any() any {
	switch v.k {
	case KindBool:
		return v.n != 0
	case KindInt:
		return v.n
	case KindFloat:
		return v.f
	case KindString:
		return v.s
	case KindArray, KindObject:
		return v.x
	}
	return nil
}

// FromAny converts a JSON-shaped Go value to a Value: nil (JSONNull),
// bool, string, float64 (whole numbers within ±2^53 become ints),
// json.Number, int, int64, []any and map[string]any. Anything else
// becomes undefined.
func FromAny(x any) Value {
	switch t := x.(type) {
	case nil:
		return JSONNull
	case bool:
		return Bool(t)
	case string:
		return String(t)
	case float64:
		return fromFloat(t)
	case int:
		return Int(int64(t))
	case int64:
		return Int(t)
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return Int(n)
		}
		f, _ := t.Float64()
		return Float(f)
	case []any:
		return Array(t)
	case map[string]any:
		return Object(t)
	}
	return Null
}

// maxExactInt is 2^53: floats up to it hold every integer exactly.
const maxExactInt = 1 << 53

func fromFloat(f float64) Value {
	if f == math.Trunc(f) && math.Abs(f) <= maxExactInt {
		return Int(int64(f))
	}
	return Float(f)
}

// String formats v as templates insert it: strings as they are, numbers in
// their shortest form, null as "", arrays and objects as JSON.
func (v Value) String() string {
	switch v.k {
	case KindNull:
		return ""
	case KindBool:
		return strconv.FormatBool(v.n != 0)
	case KindInt:
		return strconv.FormatInt(v.n, 10)
	case KindFloat:
		return formatFloat(v.f)
	case KindString:
		return v.s
	}
	b, err := json.Marshal(v.x)
	if err != nil {
		return ""
	}
	return string(b)
}

// appendText appends v.String() to dst without an intermediate string for
// scalars.
func (v Value) appendText(dst []byte) []byte {
	switch v.k {
	case KindNull:
		return dst
	case KindBool:
		return strconv.AppendBool(dst, v.n != 0)
	case KindInt:
		return strconv.AppendInt(dst, v.n, 10)
	case KindFloat:
		return strconv.AppendFloat(dst, v.f, 'g', -1, 64)
	case KindString:
		return append(dst, v.s...)
	}
	return append(dst, v.String()...)
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// MarshalJSON encodes v as JSON.
func (v Value) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(v.Any())
	if err != nil {
		return nil, fmt.Errorf("rule: encode %s: %w", v.k, err)
	}
	return b, nil
}

func negate(v Value) Value {
	if v.k == KindInt {
		return Int(-v.n)
	}
	return Float(-v.f)
}

// truth interprets v as a condition: a bool, or false for null; any
// other value fails the evaluation.
func truth(v Value) (bool, error) {
	switch v.k {
	case KindBool:
		return v.n != 0, nil
	case KindNull:
		return false, nil
	}
	return false, evalErrf("condition is %s, not a bool", v.k.a())
}
