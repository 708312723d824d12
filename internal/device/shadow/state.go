package shadow

import (
	"encoding/json"
	"strconv"
)

// This file holds the state algebra of AWS's Device Shadow: merging an
// update (null deletes a field, objects merge, anything else replaces),
// the metadata that mirrors the state with a timestamp per leaf, and the
// delta between desired and reported.

// apply merges the accepted request r into d at now (seconds).
func (d *Doc) apply(r *updateRequest, now int64) {
	if r.stateNull {
		d.Desired, d.MetaDesired, d.Reported, d.MetaReported = nil, nil, nil, nil
	}
	if r.hasDesired {
		d.Desired, d.MetaDesired = mergeSection(d.Desired, d.MetaDesired, r.desired, now)
	}
	if r.hasReported {
		d.Reported, d.MetaReported = mergeSection(d.Reported, d.MetaReported, r.reported, now)
	}
	d.Deleted = false
	d.Timestamp = now
}

// mergeSection merges src into a desired or reported section; a null src
// removes the section, and an emptied section is dropped.
func mergeSection(dst, meta, src map[string]any, now int64) (map[string]any, map[string]any) {
	if src == nil {
		return nil, nil
	}
	if dst == nil {
		dst = map[string]any{}
	}
	if meta == nil {
		meta = map[string]any{}
	}
	merge(dst, meta, src, now)
	if len(dst) == 0 {
		return nil, nil
	}
	return dst, meta
}

// merge applies src to dst and its metadata.
func merge(dst, meta, src map[string]any, now int64) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			delete(meta, k)
			continue
		}
		sm, isObj := v.(map[string]any)
		if !isObj {
			dst[k] = v
			meta[k] = metaOf(v, now)
			continue
		}
		dm, ok := dst[k].(map[string]any)
		mm, mok := meta[k].(map[string]any)
		if !ok || !mok {
			dm, mm = map[string]any{}, map[string]any{}
			dst[k], meta[k] = dm, mm
		}
		merge(dm, mm, sm, now)
	}
}

// metaOf returns the metadata of a value: an object of its fields'
// metadata, an array of its elements', or {"timestamp": now}.
func metaOf(v any, now int64) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, c := range x {
			m[k] = metaOf(c, now)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, c := range x {
			a[i] = metaOf(c, now)
		}
		return a
	}
	return map[string]any{"timestamp": now}
}

// delta returns the desired fields that reported does not match: missing
// or different values whole, objects recursively (AWS's delta); nil when
// they match.
func delta(desired, reported map[string]any) map[string]any {
	var out map[string]any
	for k, dv := range desired {
		rv, ok := reported[k]
		var diff any
		switch {
		case !ok:
			diff = dv
		default:
			dm, dok := dv.(map[string]any)
			rm, rok := rv.(map[string]any)
			if dok && rok {
				if sub := delta(dm, rm); sub != nil {
					diff = sub
				}
			} else if !jsonEqual(dv, rv) {
				diff = dv
			}
		}
		if diff != nil {
			if out == nil {
				out = map[string]any{}
			}
			out[k] = diff
		}
	}
	return out
}

// pickMeta returns the part of the desired metadata that covers delta.
func pickMeta(delta, desired, meta map[string]any) map[string]any {
	out := make(map[string]any, len(delta))
	for k, dv := range delta {
		sub, isObj := dv.(map[string]any)
		full, fullObj := desired[k].(map[string]any)
		mm, metaObj := meta[k].(map[string]any)
		if isObj && fullObj && metaObj && !sameMap(sub, full) {
			out[k] = pickMeta(sub, full, mm)
			continue
		}
		out[k] = meta[k]
	}
	return out
}

// sameMap reports whether a and b are the same map object.
func sameMap(a, b map[string]any) bool {
	return len(a) == len(b) && jsonEqual(a, b)
}

// jsonEqual compares decoded JSON values; numbers compare by value.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		return ok && numberEqual(x, y)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// numberEqual compares two JSON numbers by value (1 equals 1.0).
func numberEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	fa, err1 := strconv.ParseFloat(string(a), 64)
	fb, err2 := strconv.ParseFloat(string(b), 64)
	return err1 == nil && err2 == nil && fa == fb
}

// touches reports whether the request's reported section names a
// top-level field that is in delta: a device report that leaves a desired
// value unmet brings a new /delta, an unrelated report does not.
func touches(r *updateRequest, d map[string]any) bool {
	for k := range r.reported {
		if _, ok := d[k]; ok {
			return true
		}
	}
	return false
}

// wantsDelta reports whether an accepted update publishes /update/delta:
// the resulting delta is not empty, and the update changed the desired
// state, cleared the state, or reported on a field the delta holds.
func wantsDelta(r *updateRequest, d map[string]any) bool {
	if len(d) == 0 {
		return false
	}
	return r.hasDesired || r.stateNull || touches(r, d) || r.hasReported && r.reported == nil
}
