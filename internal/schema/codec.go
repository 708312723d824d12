package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// protoText is the text of a protobuf runtime error without its "proto:"
// prefix and with plain spaces (the runtime writes a non-breaking space
// at random, so that nobody matches its texts).
func protoText(err error) string {
	s := strings.ReplaceAll(err.Error(), "\u00a0", " ")
	return strings.TrimPrefix(s, "proto: ")
}

// maxDepth bounds the nesting of a decoded or encoded message.
const maxDepth = 64

// decodeMessage decodes data as a message of md and returns it as
// JSON-shaped Go values (see Registry.Decode for the mapping).
func decodeMessage(md protoreflect.MessageDescriptor, data []byte) (map[string]any, error) {
	m := dynamicpb.NewMessage(md)
	opts := proto.UnmarshalOptions{AllowPartial: true, RecursionLimit: maxDepth}
	if err := opts.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrDecode, md.FullName(), protoText(err))
	}
	return messageMap(m), nil
}

// messageMap converts a message: every field that is set, and the fields
// without presence (proto3 scalars, repeated, maps) with their value even
// when it is the default, keyed by the field's name as in the .proto.
func messageMap(m protoreflect.Message) map[string]any {
	fields := m.Descriptor().Fields()
	out := make(map[string]any, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !m.Has(fd) && fd.HasPresence() {
			continue
		}
		out[string(fd.Name())] = fieldAny(fd, m.Get(fd))
	}
	return out
}

func fieldAny(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch {
	case fd.IsList():
		l := v.List()
		a := make([]any, l.Len())
		for i := range l.Len() {
			a[i] = scalarAny(fd, l.Get(i))
		}
		return a
	case fd.IsMap():
		out := map[string]any{}
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			out[k.String()] = scalarAny(fd.MapValue(), mv)
			return true
		})
		return out
	}
	return scalarAny(fd, v)
}

// scalarAny converts one value of fd's kind: integers to int64 (a uint64
// above 2^63-1 to float64), floats to float64 (NaN and infinities to the
// strings "NaN", "Infinity", "-Infinity", as protobuf's JSON mapping),
// bytes to a string of those bytes, an enum to its value's name (its
// number when the name is unknown), a message to a map.
func scalarAny(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if u := v.Uint(); u <= math.MaxInt64 {
			return int64(u)
		}
		return float64(v.Uint())
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return floatAny(v.Float())
	case protoreflect.StringKind:
		return v.String()
	case protoreflect.BytesKind:
		return string(v.Bytes())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int64(v.Enum())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return messageMap(v.Message())
	}
	return nil
}

func floatAny(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

// encodeMessage builds a message of md from fields (see Registry.Encode)
// and returns its wire form.
func encodeMessage(md protoreflect.MessageDescriptor, fields map[string]any) ([]byte, error) {
	m := dynamicpb.NewMessage(md)
	if err := fillMessage(m, fields, string(md.Name()), 0); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrEncode, md.FullName(), protoText(err))
	}
	return b, nil
}

// fillMessage sets m's fields from a map; path names the place for errors
// ("Command.params.speed").
func fillMessage(m protoreflect.Message, fields map[string]any, path string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: nested deeper than %d", path, maxDepth)
	}
	md := m.Descriptor()
	for k, x := range fields {
		fd := md.Fields().ByName(protoreflect.Name(k))
		if fd == nil {
			fd = md.Fields().ByJSONName(k)
		}
		if fd == nil {
			return fmt.Errorf("%s: message %s has no field %q", path, md.FullName(), k)
		}
		if x == nil {
			continue // null: leave the field unset
		}
		if err := setField(m, fd, x, path+"."+k, depth); err != nil {
			return err
		}
	}
	return nil
}

func setField(m protoreflect.Message, fd protoreflect.FieldDescriptor, x any, path string, depth int) error {
	switch {
	case fd.IsList():
		a, ok := x.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, got %s", path, kindOf(x))
		}
		l := m.Mutable(fd).List()
		for i, e := range a {
			v, err := valueOf(l.NewElement, fd, e, path+"["+strconv.Itoa(i)+"]", depth)
			if err != nil {
				return err
			}
			l.Append(v)
		}
		return nil
	case fd.IsMap():
		obj, ok := x.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %s", path, kindOf(x))
		}
		mp := m.Mutable(fd).Map()
		for k, e := range obj {
			key, err := mapKey(fd.MapKey(), k, path)
			if err != nil {
				return err
			}
			v, err := valueOf(mp.NewValue, fd.MapValue(), e, path+"."+k, depth)
			if err != nil {
				return err
			}
			mp.Set(key, v)
		}
		return nil
	}
	v, err := valueOf(func() protoreflect.Value { return m.NewField(fd) }, fd, x, path, depth)
	if err != nil {
		return err
	}
	m.Set(fd, v)
	return nil
}

// valueOf converts x to a value of fd's kind; newMsg makes an empty
// message value for message fields (only called for them).
func valueOf(newMsg func() protoreflect.Value, fd protoreflect.FieldDescriptor, x any, path string, depth int) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		obj, ok := x.(map[string]any)
		if !ok {
			return protoreflect.Value{}, fmt.Errorf("%s: want an object, got %s", path, kindOf(x))
		}
		msg := newMsg().Message()
		if err := fillMessage(msg, obj, path, depth+1); err != nil {
			return protoreflect.Value{}, err
		}
		return protoreflect.ValueOfMessage(msg), nil
	}
	return scalarValue(fd, x, path)
}

func scalarValue(fd protoreflect.FieldDescriptor, x any, path string) (protoreflect.Value, error) {
	bad := func(want string) (protoreflect.Value, error) {
		return protoreflect.Value{}, fmt.Errorf("%s: want %s for a %s field, got %s", path, want, fd.Kind(), kindOf(x))
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if b, ok := x.(bool); ok {
			return protoreflect.ValueOfBool(b), nil
		}
		return bad("a bool")
	case protoreflect.StringKind:
		if s, ok := x.(string); ok {
			return protoreflect.ValueOfString(s), nil
		}
		return bad("a string")
	case protoreflect.BytesKind:
		if s, ok := x.(string); ok {
			return protoreflect.ValueOfBytes([]byte(s)), nil
		}
		return bad("a string")
	case protoreflect.FloatKind:
		if f, ok := toFloat(x); ok {
			return protoreflect.ValueOfFloat32(float32(f)), nil
		}
		return bad("a number")
	case protoreflect.DoubleKind:
		if f, ok := toFloat(x); ok {
			return protoreflect.ValueOfFloat64(f), nil
		}
		return bad("a number")
	case protoreflect.EnumKind:
		return enumValue(fd, x, path)
	}
	return intValue(fd, x, path)
}

// intValue converts x to the integer kind of fd, within its range.
func intValue(fd protoreflect.FieldDescriptor, x any, path string) (protoreflect.Value, error) {
	n, ok := toInt(x)
	if !ok {
		return protoreflect.Value{}, fmt.Errorf("%s: want an integer for a %s field, got %s", path, fd.Kind(), kindOf(x))
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		lo, hi = math.MinInt32, math.MaxInt32
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		lo, hi = 0, math.MaxUint32
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		lo = 0
	}
	if n < lo || n > hi {
		return protoreflect.Value{}, fmt.Errorf("%s: %d is out of range for a %s field", path, n, fd.Kind())
	}
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n)), nil
	}
	return protoreflect.ValueOfInt64(n), nil
}

// enumValue takes an enum value's name or number.
func enumValue(fd protoreflect.FieldDescriptor, x any, path string) (protoreflect.Value, error) {
	values := fd.Enum().Values()
	if s, ok := x.(string); ok {
		if ev := values.ByName(protoreflect.Name(s)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), nil
		}
		return protoreflect.Value{}, fmt.Errorf("%s: enum %s has no value %q", path, fd.Enum().FullName(), s)
	}
	n, ok := toInt(x)
	if !ok || n < math.MinInt32 || n > math.MaxInt32 {
		return protoreflect.Value{}, fmt.Errorf("%s: want an enum value's name or number, got %s", path, kindOf(x))
	}
	return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
}

// mapKey converts an object key to fd's key kind.
func mapKey(fd protoreflect.FieldDescriptor, k, path string) (protoreflect.MapKey, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(k).MapKey(), nil
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(k)
		if err != nil {
			return protoreflect.MapKey{}, fmt.Errorf("%s: key %q is not a bool", path, k)
		}
		return protoreflect.ValueOfBool(b).MapKey(), nil
	}
	n, err := strconv.ParseInt(k, 10, 64)
	if err != nil {
		return protoreflect.MapKey{}, fmt.Errorf("%s: key %q is not an integer", path, k)
	}
	v, err := intValue(fd, n, path)
	if err != nil {
		return protoreflect.MapKey{}, err
	}
	return v.MapKey(), nil
}

func toFloat(x any) (float64, bool) {
	switch n := x.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string: // what decoding gives for NaN and the infinities
		switch n {
		case "NaN":
			return math.NaN(), true
		case "Infinity":
			return math.Inf(1), true
		case "-Infinity":
			return math.Inf(-1), true
		}
	}
	return 0, false
}

// toInt accepts integers, and floats that are whole (JSON numbers decode
// to float64).
func toInt(x any) (int64, bool) {
	switch n := x.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		if n == math.Trunc(n) && n >= math.MinInt64 && n < math.MaxInt64 {
			return int64(n), true
		}
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// kindOf names x's JSON kind for errors.
func kindOf(x any) string {
	switch x.(type) {
	case nil:
		return "null"
	case bool:
		return "a bool"
	case string:
		return "a string"
	case int, int64, float64, json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", x)
}
