package rule

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"
)

func init() {
	mathFn("abs", math.Abs).doc = "abs(x) — absolute value: abs(-2) = 2"
	mathFn("ceil", math.Ceil).doc = "ceil(x) — round up: ceil(1.2) = 2"
	mathFn("floor", math.Floor).doc = "floor(x) — round down: floor(1.8) = 1"
	mathFn("round", math.Round).doc = "round(x) — round half away from zero: round(2.5) = 3"
	mathFn("sqrt", math.Sqrt).doc = "sqrt(x) — square root: sqrt(9) = 3"
	mathFn("exp", math.Exp).doc = "exp(x) — e to the power x"
	mathFn("log", math.Log).doc = "log(x) — natural logarithm"
	mathFn("log10", math.Log10).doc = "log10(x) — base-10 logarithm: log10(1000) = 3"
	mathFn("log2", math.Log2).doc = "log2(x) — base-2 logarithm: log2(8) = 3"
	pure("power", 2, 2, func(a []Value) (Value, error) {
		x, err := number(a, 0)
		if err != nil {
			return Null, err
		}
		y, err := number(a, 1)
		return finite(math.Pow(x, y), err)
	}).doc = "power(x, y) — x to the power y: power(2, 10) = 1024"
	pure("round_to", 2, 2, roundTo).doc = "round_to(x, digits) — round to decimal digits: round_to(3.14159, 2) = 3.14"
	pure("min", 1, -1, extremum(-1)).doc = "min(a, b, …) — smallest number: min(3, 1, 2) = 1"
	pure("max", 1, -1, extremum(1)).doc = "max(a, b, …) — largest number: max(3, 1, 2) = 3"

	pure("str", 1, 1, func(a []Value) (Value, error) { return String(a[0].String()), nil }).doc =
		"str(x) — x as text (objects and arrays as JSON): str(12.5) = '12.5'"
	pure("int", 1, 1, toInt).doc = "int(x) — x as an int (floats truncated, strings parsed, bools 0/1): int('42') = 42"
	pure("float", 1, 1, func(a []Value) (Value, error) {
		f, err := number(a, 0)
		return Float(f), err
	}).doc = "float(x) — x as a float: float('2.5') = 2.5"
	pure("bool", 1, 1, toBool).doc = "bool(x) — true/false, 'true'/'false' or 1/0 as a bool: bool('true') = true"
	for name, k := range map[string]Kind{"is_str": KindString, "is_int": KindInt, "is_float": KindFloat,
		"is_bool": KindBool, "is_array": KindArray, "is_map": KindObject} {
		isKind(name, k).doc = name + "(x) — whether x is of kind " + k.String()
	}
	isFn("is_null", func(v Value) bool { return v.k == KindNull }).doc = "is_null(x) — whether x is null: is_null(payload.missing) = true"
	isFn("is_not_null", func(v Value) bool { return v.k != KindNull }).doc = "is_not_null(x) — whether x is not null"
	isFn("is_num", Value.isNum).doc = "is_num(x) — whether x is an int or a float: is_num(1.5) = true"
	c := pure("coalesce", 1, -1, func(a []Value) (Value, error) {
		for _, v := range a {
			if v.k != KindNull {
				return v, nil
			}
		}
		return Null, nil
	})
	c.nullable = true
	c.doc = "coalesce(a, b, …) — first argument that is not null: coalesce(payload.name, clientid)"

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
	register("format_date", 3, 4, formatDate).doc = "format_date(unit, offset, format[, ts]) — format timestamp ts (in unit; default: now) with %Y %m %d %H %M %S %3N %6N %9N %z: format_date('millisecond', '+08:00', '%Y-%m-%d %H:%M:%S', 1574751635845) = '2019-11-26 15:00:35'"

	pure("nth", 2, 2, func(a []Value) (Value, error) {
		n, err := integer(a, 0)
		if err != nil {
			return Null, err
		}
		arr, err := array(a, 1)
		return arrayAt(arr, n), err
	}).doc = "nth(n, array) — element n, counting from 1 (-1 is the last): nth(2, split(topic, '/'))"
	pure("first", 1, 1, func(a []Value) (Value, error) {
		arr, err := array(a, 0)
		return arrayAt(arr, 1), err
	}).doc = "first(array) — first element, null if empty"
	pure("last", 1, 1, func(a []Value) (Value, error) {
		arr, err := array(a, 0)
		return arrayAt(arr, -1), err
	}).doc = "last(array) — last element, null if empty"
	pure("length", 1, 1, length).doc = "length(x) — elements of an array, keys of an object or characters of a string: length([1,2]) = 2"
	pure("contains", 2, 2, contains).doc = "contains(x, array) — whether the array holds x; contains(s, sub) for strings: contains(2, [1,2]) = true"
	m := pure("map_get", 2, 3, mapGet)
	m.nullable = true
	m.doc = "map_get(key, object[, default]) — value under key (dots walk nested objects): map_get('a.b', json_decode('{\"a\":{\"b\":1}}')) = 1"
	pure("map_put", 3, 3, mapPut).doc = "map_put(key, value, object) — a copy of object with key set: map_put('k', 1, json_decode('{}'))"
	pure("map_keys", 1, 1, func(a []Value) (Value, error) {
		m, err := object(a, 0)
		return sortedKeys(m), err
	}).doc = "map_keys(object) — sorted keys: map_keys(payload.location) = ['latitude','longitude']"
	pure("map_values", 1, 1, func(a []Value) (Value, error) {
		m, err := object(a, 0)
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
	return fromFloat(f), nil
}

func mathFn(name string, f func(float64) float64) *funcSpec {
	return pure(name, 1, 1, func(a []Value) (Value, error) {
		if name == "abs" && a[0].k == KindInt && a[0].n != math.MinInt64 {
			return Int(max(a[0].n, -a[0].n)), nil
		}
		x, err := number(a, 0)
		return finite(f(x), err)
	})
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
		if math.IsNaN(v.f) || math.Abs(v.f) >= math.MaxInt64 {
			return Null, errors.New("out of range")
		}
		return Int(int64(v.f)), nil
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

func toBool(a []Value) (Value, error) {
	v := a[0]
	switch {
	case v.k == KindBool:
		return v, nil
	case v.k == KindInt && (v.n == 0 || v.n == 1):
		return Bool(v.n == 1), nil
	case v.k == KindString:
		if b, err := strconv.ParseBool(v.s); err == nil {
			return Bool(b), nil
		}
	}
	return Null, errors.New("cannot convert " + v.k.String() + " " + v.String() + " to bool")
}

func isKind(name string, k Kind) *funcSpec {
	return isFn(name, func(v Value) bool { return v.k == k })
}

func isFn(name string, f func(Value) bool) *funcSpec {
	s := pure(name, 1, 1, func(a []Value) (Value, error) { return Bool(f(a[0])), nil })
	s.nullable = true
	return s
}

var unitDiv = map[string]time.Duration{"second": time.Second, "millisecond": time.Millisecond,
	"microsecond": time.Microsecond, "nanosecond": time.Nanosecond}

func unixIn(t time.Time, unit string) (Value, error) {
	d, ok := unitDiv[unit]
	if !ok {
		return Null, errors.New("unknown unit '" + unit + "' (second, millisecond, microsecond, nanosecond)")
	}
	return Int(t.UnixNano() / int64(d)), nil
}

func formatDate(e *env, a []Value) (Value, error) {
	unit, offset, layout, err := text3(a)
	if err != nil {
		return Null, err
	}
	d, ok := unitDiv[unit]
	if !ok {
		return Null, errors.New("unknown unit '" + unit + "'")
	}
	ts := e.now.UnixNano() / int64(d)
	if len(a) == 4 {
		if ts, err = integer(a, 3); err != nil {
			return Null, err
		}
	}
	loc, err := zone(offset)
	if err != nil {
		return Null, err
	}
	t := time.Unix(0, ts*int64(d)).In(loc)
	return String(strftime(t, layout)), nil
}

// zone parses "Z", "+08:00", "-0500" or "" (UTC).
func zone(s string) (*time.Location, error) {
	if s == "" || s == "Z" || s == "z" {
		return time.UTC, nil
	}
	t, err := time.Parse("-07:00", s)
	if err != nil {
		if t, err = time.Parse("-0700", s); err != nil {
			return nil, errors.New("bad offset '" + s + "' (want Z, +08:00 or -0500)")
		}
	}
	_, off := t.Zone()
	return time.FixedZone(s, off), nil
}

var strftimeCodes = strings.NewReplacer("%Y", "2006", "%m", "01", "%d", "02", "%H", "15", "%M", "04",
	"%S", "05", "%3N", "000", "%6N", "000000", "%9N", "000000000", "%N", "000000000", "%z", "-0700", "%%", "%")

// strftime formats t with the %-codes of format_date; other text is kept
// (Go layout words in it are escaped by formatting piecewise).
func strftime(t time.Time, layout string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(layout, '%')
		if i < 0 || i+1 >= len(layout) {
			b.WriteString(layout)
			return b.String()
		}
		b.WriteString(layout[:i])
		code := layout[i : i+2]
		if (layout[i+1] == '3' || layout[i+1] == '6' || layout[i+1] == '9') && i+2 < len(layout) && layout[i+2] == 'N' {
			code = layout[i : i+3]
		}
		goLayout := strftimeCodes.Replace(code)
		switch {
		case code == "%%":
			b.WriteByte('%')
		case goLayout == code:
			b.WriteString(code) // unknown code: kept as written
		case strings.HasSuffix(code, "N"):
			b.WriteString(strings.TrimPrefix(t.Format("."+goLayout), "."))
		default:
			b.WriteString(t.Format(goLayout))
		}
		layout = layout[i+len(code):]
	}
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
	if a[1].k == KindNull {
		return def, nil
	}
	m, err := object(a, 1)
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

func mapPut(a []Value) (Value, error) {
	key, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	m, err := object(a, 2)
	if err != nil {
		return Null, err
	}
	out := maps.Clone(m)
	if out == nil {
		out = map[string]any{}
	}
	out[key] = a[1].Any()
	return Object(out), nil
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
