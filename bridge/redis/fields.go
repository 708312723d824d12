package redis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotObject is returned by Fields for a value that is not a non-empty
// JSON object.
var ErrNotObject = errors.New("redis: the value is not a non-empty JSON object")

// Fields returns the top-level fields of the JSON object value as field,
// value pairs in document order, for HSET and XADD: a string gives its
// text, any other value its JSON text (83.4, true, null, {"a":1}). A
// field repeated in the object is kept as often (Redis keeps the last).
func Fields(value []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, ErrNotObject
	}
	var out []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotObject, err)
		}
		name, ok := k.(string)
		if !ok {
			return nil, ErrNotObject
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotObject, err)
		}
		out = append(out, name, fieldText(raw))
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotObject, err)
	}
	if dec.More() || len(out) == 0 {
		return nil, ErrNotObject
	}
	return out, nil
}

// fieldText is a JSON string's text, or the raw JSON of anything else.
func fieldText(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}
