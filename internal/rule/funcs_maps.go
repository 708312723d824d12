package rule

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
)

// Map and array functions that follow EMQX's.

func init() {
	register("map_new", 0, 0, func(*env, []Value) (Value, error) {
		return Object(map[string]any{}), nil
	}).doc = "map_new() — an empty object"
	pure("map", 1, 1, func(a []Value) (Value, error) {
		m, err := mapArg(a, 0)
		return Object(m), err
	}).doc = "map(x) — x as an object (a JSON string is decoded): map('{\"a\":1}')"
	pure("map_size", 1, 1, func(a []Value) (Value, error) {
		if arr, ok := a[0].AsArray(); ok {
			return Int(int64(len(arr))), nil
		}
		m, err := mapArg(a, 0)
		return Int(int64(len(m))), err
	}).doc = "map_size(object) — number of keys: map_size('{\"a\":1}') = 1"
	pure("map_to_entries", 1, 1, func(a []Value) (Value, error) {
		m, err := mapArg(a, 0)
		if err != nil {
			return Null, err
		}
		keys := sortedKeyList(m)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = map[string]any{"key": k, "value": m[k]}
		}
		return Array(out), nil
	}).doc = "map_to_entries(object) — [{key, value}…] in key order: map_to_entries('{\"a\":1}') = [{\"key\":\"a\",\"value\":1}]"
	pure("mget", 2, 3, mget).doc = "mget(key, object[, default]) — the value under key, taken whole (a.b is one key; an array of keys walks): mget('a.b', json_decode('{\"a.b\":1}')) = 1"
	pure("mput", 3, 3, mput).doc = "mput(key, value, object) — a copy of object with key set, taken whole (an array of keys walks)"
	e := pure("is_empty", 1, 1, func(a []Value) (Value, error) {
		switch v := a[0]; v.k {
		case KindArray:
			arr, _ := v.AsArray()
			return Bool(len(arr) == 0), nil
		case KindString:
			if v.s == "" {
				return Bool(true), nil
			}
		}
		m, err := mapArg(a, 0)
		return Bool(len(m) == 0), err
	})
	e.doc = "is_empty(x) — whether an array, object or JSON object text is empty: is_empty('{}') = true"
	pure("sublist", 2, 3, sublist).doc = "sublist([start, ]len, array) — len elements from 1-based start (default 1): sublist(2, 10, [1,2,3,4]) = [2,3,4]"
	pure("map_to_redis_hset_args", 1, 1, redisHsetArgs).doc = "map_to_redis_hset_args(object) — the object as Redis HSET field/value arguments"
	register("random", 0, 0, func(*env, []Value) (Value, error) {
		n, err := rand.Int(rand.Reader, big.NewInt(1<<53))
		if err != nil {
			return Null, err
		}
		return Float(float64(n.Int64()) / (1 << 53)), nil
	}).doc = "random() — a random float in [0, 1)"
	register("uuid_v4", 0, 0, func(*env, []Value) (Value, error) { return String(uuidV4(true)), nil }).doc =
		"uuid_v4() — a random UUID"
	register("uuid_v4_no_hyphen", 0, 0, func(*env, []Value) (Value, error) { return String(uuidV4(false)), nil }).doc =
		"uuid_v4_no_hyphen() — a random UUID without hyphens"
}

// mget and mput take the key whole; an array of keys walks nested objects.
func mget(a []Value) (Value, error) {
	def := Null
	if len(a) == 3 {
		def = a[2]
	}
	m, err := mapArg(a, 1)
	if err != nil {
		return Null, err
	}
	keys, err := keyPath(a[0])
	if err != nil {
		return Null, err
	}
	var x any = m
	for _, k := range keys {
		mm, ok := x.(map[string]any)
		if !ok {
			return def, nil
		}
		if x, ok = mm[k]; !ok {
			return def, nil
		}
	}
	return FromAny(x), nil
}

func mput(a []Value) (Value, error) {
	m, err := mapArg(a, 2)
	if err != nil {
		return Null, err
	}
	keys, err := keyPath(a[0])
	if err != nil {
		return Null, err
	}
	path := make([]pathStep, len(keys))
	for i, k := range keys {
		path[i] = pathStep{key: k}
	}
	return FromAny(putIn(m, path, a[1].Any())), nil
}

func keyPath(v Value) ([]string, error) {
	arr, ok := v.AsArray()
	if !ok {
		s, err := text([]Value{v}, 0)
		return []string{s}, err
	}
	if len(arr) == 0 {
		return nil, errors.New("empty key path")
	}
	keys := make([]string, len(arr))
	for i, x := range arr {
		k, err := text([]Value{FromAny(x)}, 0)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

func sublist(a []Value) (Value, error) {
	start, ai := int64(1), 0
	if len(a) == 3 {
		var err error
		if start, err = intArg(a, 0); err != nil {
			return Null, err
		}
		ai = 1
	}
	n, err := intArg(a, ai)
	if err != nil {
		return Null, err
	}
	arr, err := array(a, ai+1)
	if err != nil {
		return Null, err
	}
	if start < 1 || n < 0 || start > int64(len(arr))+1 {
		return Null, errors.New("start or length out of range")
	}
	end := min(int64(len(arr)), start-1+n)
	return Array(arr[start-1 : end]), nil
}

func redisHsetArgs(a []Value) (Value, error) {
	out := []any{"map_to_redis_hset_args"}
	m, err := mapArg(a, 0)
	if err != nil {
		return Array(out), nil //nolint:nilerr // EMQX gives no fields for anything but an object
	}
	for _, k := range sortedKeyList(m) {
		v := FromAny(m[k])
		switch v.k {
		case KindString, KindBool, KindInt:
			out = append(out, k, v.String())
		case KindFloat:
			out = append(out, k, compactFloat(v.f, 6)) // EMQX: float2str(V, 6)
		}
	}
	return Array(out), nil
}

func uuidV4(hyphens bool) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	if !hyphens {
		return h
	}
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
