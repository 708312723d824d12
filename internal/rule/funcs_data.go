package rule

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

func init() {
	pure("abs", 1, 1, absFn).doc = "abs(x) — absolute value: abs(-2) = 2"
	roundFn("ceil", math.Ceil).doc = "ceil(x) — round up to an int: ceil(1.2) = 2"
	roundFn("floor", math.Floor).doc = "floor(x) — round down to an int: floor(1.8) = 1"
	roundFn("round", math.Round).doc = "round(x) — round half away from zero to an int: round(2.5) = 3"
	mathFn("sqrt", math.Sqrt).doc = "sqrt(x) — square root (a float): sqrt(9) = 3.0"
	mathFn("exp", math.Exp).doc = "exp(x) — e to the power x"
	mathFn("log", math.Log).doc = "log(x) — natural logarithm"
	mathFn("log10", math.Log10).doc = "log10(x) — base-10 logarithm: log10(1000) = 3.0"
	mathFn("log2", math.Log2).doc = "log2(x) — base-2 logarithm: log2(8) = 3.0"
	for _, f := range []struct {
		name string
		fn   func(float64) float64
	}{{"sin", math.Sin}, {"cos", math.Cos}, {"tan", math.Tan}, {"asin", math.Asin}, {"acos", math.Acos},
		{"atan", math.Atan}, {"sinh", math.Sinh}, {"cosh", math.Cosh}, {"tanh", math.Tanh},
		{"asinh", math.Asinh}, {"acosh", math.Acosh}, {"atanh", math.Atanh}} {
		mathFn(f.name, f.fn).doc = f.name + "(x) — trigonometric or hyperbolic function, in radians: " + f.name + "(0.5)"
	}
	pure("power", 2, 2, func(a []Value) (Value, error) {
		x, err := number(a, 0)
		if err != nil {
			return Null, err
		}
		y, err := number(a, 1)
		return finite(math.Pow(x, y), err)
	}).doc = "power(x, y) — x to the power y (a float): power(2, 10) = 1024.0"
	pure("fmod", 2, 2, func(a []Value) (Value, error) {
		x, err := number(a, 0)
		if err != nil {
			return Null, err
		}
		y, err := number(a, 1)
		return finite(math.Mod(x, y), err)
	}).doc = "fmod(x, y) — floating-point remainder of x / y: fmod(6.5, 2.5) = 1.5"
	pure("round_to", 2, 2, roundTo).doc = "round_to(x, digits) — round to decimal digits: round_to(3.14159, 2) = 3.14"
	pure("min", 1, -1, extremum(-1)).doc = "min(a, b, …) — smallest number: min(3, 1, 2) = 1"
	pure("max", 1, -1, extremum(1)).doc = "max(a, b, …) — largest number: max(3, 1, 2) = 3"

	st := pure("str", 1, 1, func(a []Value) (Value, error) { return String(emqxText(a[0])), nil })
	st.nullable = true
	st.doc = "str(x) — x as text: floats with up to 10 decimals, objects and arrays as JSON: str(2.0) = '2.0'"
	pure("int", 1, 1, toInt).doc = "int(x) — x as an int (floats rounded down, strings parsed, bools 0/1): int('42') = 42"
	pure("float", 1, 2, toFloat).doc = "float(x[, decimals]) — x as a float, rounded to decimals: float('3.1415926', 3) = 3.142"
	pure("bool", 1, 1, toBool).doc = "bool(x) — true/false, 'true'/'false' or 1/0 as a bool: bool('true') = true"
	for name, k := range map[string]Kind{"is_str": KindString, "is_int": KindInt, "is_float": KindFloat,
		"is_bool": KindBool, "is_array": KindArray, "is_map": KindObject} {
		isKind(name, k).doc = name + "(x) — whether x is of kind " + k.String()
	}
	isFn("is_null", Value.IsUndefined).doc = "is_null(x) — whether x is undefined (a JSON null is not): is_null(payload.missing) = true"
	isFn("is_not_null", func(v Value) bool { return !v.IsUndefined() }).doc = "is_not_null(x) — whether x is defined"
	isFn("is_null_var", Value.IsNull).doc = "is_null_var(x) — whether x is undefined or a JSON null"
	isFn("is_not_null_var", func(v Value) bool { return !v.IsNull() }).doc = "is_not_null_var(x) — whether x is neither undefined nor a JSON null"
	isFn("is_num", Value.isNum).doc = "is_num(x) — whether x is an int or a float: is_num(1.5) = true"
	c := pure("coalesce", 1, -1, func(a []Value) (Value, error) {
		for _, v := range a {
			if !v.IsUndefined() {
				return v, nil
			}
		}
		return Null, nil
	})
	c.nullable = true
	c.doc = "coalesce(a, b, …) — first argument that is defined: coalesce(payload.name, clientid)"
	c = pure("coalesce_ne", 1, -1, func(a []Value) (Value, error) {
		for _, v := range a {
			if !v.IsUndefined() && !(v.k == KindString && v.s == "") {
				return v, nil
			}
		}
		return Null, nil
	})
	c.nullable = true
	c.doc = "coalesce_ne(a, b, …) — first argument that is defined and not '': coalesce_ne('', 'x') = 'x'"

	pure("json_encode", 1, 1, func(a []Value) (Value, error) {
		b, err := json.Marshal(a[0].Any())
		return String(string(b)), err
	}).doc = "json_encode(x) — x as JSON text: json_encode(payload.location) = '{\"latitude\":…}'"
	pure("json_decode", 1, 1, func(a []Value) (Value, error) {
		s, err := text(a, 0)
		if err != nil {
			return Null, err
		}
		var x any
		if err := jsonUnmarshalString(s, &x); err != nil {
			return Null, errors.New("not JSON")
		}
		return FromAny(x), nil
	}).doc = "json_decode(s) — parse JSON text: json_decode('{\"a\":1}').a = 1"

	register("now_timestamp", 0, 1, func(e *env, a []Value) (Value, error) {
		unit := "millisecond"
		if len(a) == 1 {
			var err error
			if unit, err = text(a, 0); err != nil {
				return Null, err
			}
		}
		return unixIn(e.now, unit)
	}).doc = "now_timestamp([unit]) — the current time as a Unix timestamp in second, millisecond (default), microsecond or nanosecond"

	pure("nth", 2, 2, func(a []Value) (Value, error) {
		n, err := integer(a, 0)
		if err != nil {
			return Null, err
		}
		arr, err := array(a, 1)
		if err != nil {
			return Null, err
		}
		return element(arr, n)
	}).doc = "nth(n, array) — element n, counting from 1 (out of range fails): nth(2, split(topic, '/'))"
	pure("first", 1, 1, func(a []Value) (Value, error) {
		arr, err := array(a, 0)
		if err != nil {
			return Null, err
		}
		return element(arr, 1)
	}).doc = "first(array) — first element (an empty array fails)"
	pure("last", 1, 1, func(a []Value) (Value, error) {
		arr, err := array(a, 0)
		if err != nil {
			return Null, err
		}
		return element(arr, int64(len(arr)))
	}).doc = "last(array) — last element (an empty array fails)"
	pure("length", 1, 1, length).doc = "length(x) — elements of an array, keys of an object or characters of a string: length([1,2]) = 2"
	pure("contains", 2, 2, contains).doc = "contains(x, array) — whether the array holds x; contains(s, sub) for strings: contains(2, [1,2]) = true"
	m := pure("map_get", 2, 3, mapGet)
	m.nullable = true
	m.doc = "map_get(key, object[, default]) — value under key (dots walk nested objects): map_get('a.b', json_decode('{\"a\":{\"b\":1}}')) = 1"
	pure("map_put", 3, 3, mapPut).doc = "map_put(key, value, object) — a copy of object with key set (dots walk nested objects): map_put('a.b', 1, map_new())"
	pure("map_keys", 1, 1, func(a []Value) (Value, error) {
		m, err := mapArg(a, 0)
		return sortedKeys(m), err
	}).doc = "map_keys(object) — sorted keys (a JSON string is decoded): map_keys(payload.location) = ['latitude','longitude']"
	pure("map_values", 1, 1, func(a []Value) (Value, error) {
		m, err := mapArg(a, 0)
		if err != nil {
			return Null, err
		}
		keys, _ := sortedKeys(m).AsArray()
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = m[k.(string)]
		}
		return Array(out), nil
	}).doc = "map_values(object) — values in the order of map_keys"
}

func finite(f float64, err error) (Value, error) {
	if err != nil {
		return Null, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Null, errors.New("result is not a finite number")
	}
	return Float(f), nil
}

// mathFn registers a function whose result is a float, as in EMQX.
func mathFn(name string, f func(float64) float64) *funcSpec {
	return pure(name, 1, 1, func(a []Value) (Value, error) {
		x, err := number(a, 0)
		if err != nil {
			return Null, err
		}
		r := f(x)
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return Null, errors.New("result is not a finite number")
		}
		return Float(r), nil
	})
}

// roundFn registers ceil, floor or round: an int result.
func roundFn(name string, f func(float64) float64) *funcSpec {
	return pure(name, 1, 1, func(a []Value) (Value, error) {
		if a[0].k == KindInt {
			return a[0], nil
		}
		x, err := number(a, 0)
		if err != nil {
			return Null, err
		}
		return floatToInt(f(x))
	})
}

func absFn(a []Value) (Value, error) {
	if a[0].k == KindInt && a[0].n != math.MinInt64 {
		return Int(max(a[0].n, -a[0].n)), nil
	}
	x, err := number(a, 0)
	if err != nil {
		return Null, err
	}
	return Float(math.Abs(x)), nil
}

func floatToInt(f float64) (Value, error) {
	if math.IsNaN(f) || math.Abs(f) >= math.MaxInt64 {
		return Null, errors.New("out of range")
	}
	return Int(int64(f)), nil
}

// element returns arr[n], 1-based; out of range fails, as in EMQX.
func element(arr []any, n int64) (Value, error) {
	if n < 1 || n > int64(len(arr)) {
		return Null, fmt.Errorf("index %d out of range (%d elements)", n, len(arr))
	}
	return FromAny(arr[n-1]), nil
}

func roundTo(a []Value) (Value, error) {
	x, err := number(a, 0)
	if err != nil {
		return Null, err
	}
	d, err := integer(a, 1)
	if err != nil {
		return Null, err
	}
	d = max(0, min(d, 15))
	p := math.Pow(10, float64(d))
	return Float(math.Round(x*p) / p), nil
}

func extremum(sign int) func([]Value) (Value, error) {
	return func(a []Value) (Value, error) {
		best := a[0]
		if !best.isNum() {
			return Null, argErr(0, best, "a number")
		}
		for i, v := range a[1:] {
			if !v.isNum() {
				return Null, argErr(i+1, v, "a number")
			}
			if compareNum(v, best)*sign > 0 {
				best = v
			}
		}
		return best, nil
	}
}

func toInt(a []Value) (Value, error) {
	v := a[0]
	switch v.k {
	case KindInt:
		return v, nil
	case KindFloat:
		return floatToInt(math.Floor(v.f))
	case KindBool:
		return Int(v.n), nil
	case KindString:
		n, ok := parseNumber(v.s)
		if !ok {
			return Null, errors.New("'" + v.s + "' is not a number")
		}
		return toInt([]Value{n})
	}
	return Null, argErr(0, v, "a number")
}

func toFloat(a []Value) (Value, error) {
	f, err := number(a, 0)
	if err != nil || len(a) == 1 {
		return Float(f), err
	}
	d, err := integer(a, 1)
	if err != nil {
		return Null, err
	}
	if d <= 0 || d > 253 {
		return Null, errors.New("decimals must be 1 to 253")
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'f', int(d), 64), 64)
	return Float(r), err
}

func toBool(a []Value) (Value, error) {
	v := a[0]
	switch {
	case v.k == KindBool:
		return v, nil
	case v.isNum():
		if f, _ := v.AsFloat(); f == 0 || f == 1 {
			return Bool(f == 1), nil
		}
	case v.k == KindString && (v.s == "true" || v.s == "false"):
		return Bool(v.s == "true"), nil
	}
	return Null, errors.New("cannot convert " + v.k.String() + " " + v.String() + " to bool")
}

// emqxText formats v as EMQX's str() does: floats with up to 10 decimals
// and no trailing zeros (2.0 is '2.0'), undefined as 'undefined', a JSON
// null as 'null', objects and arrays as JSON.
func emqxText(v Value) string {
	switch {
	case v.IsUndefined():
		return "undefined"
	case v.k == KindNull:
		return "null"
	case v.k == KindFloat:
		return compactFloat(v.f, 10)
	}
	return v.String()
}

// compactFloat formats f with at most decimals decimals and no trailing
// zeros, keeping one decimal (Erlang's float_to_binary with compact).
func compactFloat(f float64, decimals int) string {
	s := strconv.FormatFloat(f, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		if strings.HasSuffix(s, ".") {
			s += "0"
		}
	}
	return s
}

func isKind(name string, k Kind) *funcSpec {
	return isFn(name, func(v Value) bool { return v.k == k })
}

func isFn(name string, f func(Value) bool) *funcSpec {
	s := pure(name, 1, 1, func(a []Value) (Value, error) { return Bool(f(a[0])), nil })
	s.nullable = true
	return s
}

func length(a []Value) (Value, error) {
	switch v := a[0]; v.k {
	case KindString:
		return Int(int64(len([]rune(v.s)))), nil
	case KindArray:
		arr, _ := v.AsArray()
		return Int(int64(len(arr))), nil
	case KindObject:
		m, _ := v.AsObject()
		return Int(int64(len(m))), nil
	}
	return Null, argErr(0, a[0], "a string, array or object")
}

func contains(a []Value) (Value, error) {
	if a[1].k == KindString && a[0].k == KindString {
		return Bool(strings.Contains(a[0].s, a[1].s)), nil
	}
	arr, err := array(a, 1)
	if err != nil {
		return Null, err
	}
	for _, x := range arr {
		if strictEqual(a[0], FromAny(x)) {
			return Bool(true), nil
		}
	}
	return Bool(false), nil
}

func mapGet(a []Value) (Value, error) {
	def := Null
	if len(a) == 3 {
		def = a[2]
	}
	key, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	if a[1].IsNull() {
		return def, nil
	}
	m, err := mapArg(a, 1)
	if err != nil {
		return Null, err
	}
	var x any = m
	for part := range strings.SplitSeq(key, ".") {
		mm, ok := x.(map[string]any)
		if !ok {
			return def, nil
		}
		if x, ok = mm[part]; !ok {
			return def, nil
		}
	}
	return FromAny(x), nil
}

// mapPut sets key in a copy of the object; dots in key walk (and create)
// nested objects, as EMQX's map_put does.
func mapPut(a []Value) (Value, error) {
	key, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	var m map[string]any
	if !a[2].IsNull() {
		if m, err = mapArg(a, 2); err != nil {
			return Null, err
		}
	}
	var path []pathStep
	for part := range strings.SplitSeq(key, ".") {
		path = append(path, pathStep{key: part})
	}
	return FromAny(putIn(m, path, a[1].Any())), nil
}

// mapArg returns argument i as an object; a string is decoded as JSON.
func mapArg(args []Value, i int) (map[string]any, error) {
	v := args[i]
	if v.k == KindString {
		v = decodeJSON(v.s)
	}
	if m, ok := v.AsObject(); ok {
		return m, nil
	}
	return nil, argErr(i, args[i], "an object")
}

// sortedKeyList returns m's keys, sorted.
func sortedKeyList(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

func sortedKeys(m map[string]any) Value {
	keys := sortedKeyList(m)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return Array(out)
}
