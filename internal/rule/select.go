package rule

import (
	"maps"
	"slices"
)

// putPath sets the value at path in the output fields fs (EMQX's nested
// put): path[0] names the field; further keys and indexes descend into
// it, creating objects and arrays as needed. Values already in fs are
// never modified: the objects and arrays on the path are copied.
func putPath(fs []Field, path []pathStep, v Value) []Field {
	if len(path) == 1 {
		return setField(fs, path[0].key, v)
	}
	cur, _ := lookupField(fs, path[0].key)
	return setField(fs, path[0].key, FromAny(putIn(cur.Any(), path[1:], v.Any())))
}

// putIn returns container with v set at steps. A string container is
// read as JSON first; a container of the wrong kind is replaced.
func putIn(container any, steps []pathStep, v any) any {
	if len(steps) == 0 {
		return v
	}
	if s, ok := container.(string); ok {
		container = decodeJSON(s).Any()
	}
	st := steps[0]
	if st.kind == stepKey {
		m, ok := container.(map[string]any)
		if ok {
			m = maps.Clone(m)
		} else {
			m = map[string]any{}
		}
		m[st.key] = putIn(m[st.key], steps[1:], v)
		return m
	}
	a, ok := container.([]any)
	if !ok {
		// Into anything but an array: a new one-element array.
		return []any{putIn(nil, steps[1:], v)}
	}
	switch st.kind {
	case stepHead:
		return append([]any{putIn(nil, steps[1:], v)}, a...)
	case stepTail:
		return append(slices.Clone(a), putIn(nil, steps[1:], v))
	}
	i := st.index
	if i < 0 {
		i += int64(len(a)) + 1
	}
	if i < 1 || i > int64(len(a)) {
		return a // out of range: unchanged, as in EMQX
	}
	a = slices.Clone(a)
	a[i-1] = putIn(a[i-1], steps[1:], v)
	return a
}
