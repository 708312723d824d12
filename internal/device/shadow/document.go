package shadow

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// Limits bound shadow documents; zero fields take AWS's values.
type Limits struct {
	// MaxStateBytes bounds the JSON size of a shadow's desired and
	// reported state together, metadata excluded (AWS: 8 KB).
	MaxStateBytes int
	// MaxDepth bounds the nesting of the desired and reported sections
	// (AWS: 6).
	MaxDepth int
}

// withDefaults fills zero limits.
func (l Limits) withDefaults() Limits {
	if l.MaxStateBytes <= 0 {
		l.MaxStateBytes = 8192
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 6
	}
	return l
}

// maxTokenLen is the longest clientToken, in bytes.
const maxTokenLen = 64

// Doc is one stored shadow: its state, the metadata (a timestamp per
// leaf, mirroring the state's shape), the version, and whether it was
// deleted (a deleted shadow keeps its version, so that a new one goes on
// counting, as AWS does). Values decode with json.Number, so numbers keep
// their text.
type Doc struct {
	Desired      map[string]any `json:"desired,omitempty"`
	Reported     map[string]any `json:"reported,omitempty"`
	MetaDesired  map[string]any `json:"meta_desired,omitempty"`
	MetaReported map[string]any `json:"meta_reported,omitempty"`
	// Version counts accepted updates; 0 for a shadow never written.
	Version uint64 `json:"version"`
	// Deleted marks a deleted shadow that keeps its version.
	Deleted bool `json:"deleted,omitempty"`
	// Timestamp is the last change, in seconds since the epoch.
	Timestamp int64 `json:"timestamp"`
}

// Exists reports whether the shadow exists (written and not deleted).
func (d *Doc) Exists() bool { return d != nil && d.Version > 0 && !d.Deleted }

// clone returns a deep copy of d (a later request of a batch must not
// see what a refused one did to its copy).
func (d *Doc) clone() *Doc {
	c := *d
	c.Desired, c.Reported = cloneMap(d.Desired), cloneMap(d.Reported)
	c.MetaDesired, c.MetaReported = cloneMap(d.MetaDesired), cloneMap(d.MetaReported)
	return &c
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = cloneValue(v)
	}
	return c
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = cloneValue(e)
		}
		return a
	}
	return v
}

// Encode returns the stored form of d.
func (d *Doc) Encode() ([]byte, error) { return encode(d) }

// DecodeDoc decodes a stored shadow.
func DecodeDoc(b []byte) (*Doc, error) {
	var d Doc
	if err := decodeStrict(b, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// updateRequest is a parsed /update request document.
type updateRequest struct {
	stateNull   bool // "state": null clears desired and reported
	desired     map[string]any
	reported    map[string]any
	hasDesired  bool
	hasReported bool
	token       string
	version     uint64
	hasVersion  bool
}

// decodeStrict decodes one JSON value with numbers as json.Number and
// nothing after it.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// parseObject decodes payload as one JSON object.
func parseObject(payload []byte) (map[string]any, *Error) {
	if !utf8.Valid(payload) {
		return nil, errEncoding
	}
	var obj map[string]any
	if err := decodeStrict(payload, &obj); err != nil || obj == nil {
		return nil, errInvalidJSON
	}
	return obj, nil
}

// parseToken returns the clientToken of a request object ("" if none).
func parseToken(obj map[string]any) (string, *Error) {
	v, ok := obj["clientToken"]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok || len(s) > maxTokenLen {
		return "", errInvalidToken
	}
	return s, nil
}

// ParseToken returns the clientToken of a /get or /delete request, whose
// payload may be empty; the rest of the document is ignored.
func ParseToken(payload []byte) (string, error) {
	if len(bytes.TrimSpace(payload)) == 0 {
		return "", nil
	}
	obj, e := parseObject(payload)
	if e != nil {
		return "", e
	}
	tok, e := parseToken(obj)
	if e != nil {
		return "", e
	}
	return tok, nil
}

// parseUpdate parses and checks an /update request document. On error the
// clientToken is still returned when it could be read, for the rejection.
func parseUpdate(payload []byte, lim Limits) (*updateRequest, *Error) {
	obj, e := parseObject(payload)
	if e != nil {
		return nil, e
	}
	r := &updateRequest{}
	if r.token, e = parseToken(obj); e != nil {
		return nil, e
	}
	if e := r.parseVersion(obj); e != nil {
		return r, e
	}
	st, ok := obj["state"]
	switch {
	case !ok:
		return r, errMissingState
	case st == nil:
		r.stateNull = true
		return r, nil
	}
	state, ok := st.(map[string]any)
	if !ok {
		return r, errStateNotObject
	}
	for k, v := range state {
		var e *Error
		switch k {
		case "desired":
			r.hasDesired = true
			r.desired, e = checkSection(v, errDesiredNotObj, lim)
		case "reported":
			r.hasReported = true
			r.reported, e = checkSection(v, errReportedNotObj, lim)
		default:
			e = errInvalidNode
		}
		if e != nil {
			return r, e
		}
	}
	return r, nil
}

// parseVersion reads the optional version: a non-negative integer.
func (r *updateRequest) parseVersion(obj map[string]any) *Error {
	v, ok := obj["version"]
	if !ok {
		return nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return errInvalidVersion
	}
	u, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return errInvalidVersion
	}
	r.version, r.hasVersion = u, true
	return nil
}

// checkSection checks a desired or reported value: an object or null, not
// nested deeper than the limit, with no null in an array.
func checkSection(v any, notObject *Error, lim Limits) (map[string]any, *Error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, notObject
	}
	d, nullInArray := depth(m)
	if nullInArray {
		return nil, errInvalidJSON
	}
	if d > lim.MaxDepth {
		return nil, tooDeep(lim.MaxDepth)
	}
	return m, nil
}

// depth returns the nesting depth of v (a scalar is 0, an object or array
// of scalars 1) and whether an array holds a null.
func depth(v any) (int, bool) {
	max, bad := 0, false
	visit := func(c any, inArray bool) {
		if c == nil && inArray {
			bad = true
		}
		d, b := depth(c)
		max, bad = maxInt(max, d), bad || b
	}
	switch x := v.(type) {
	case map[string]any:
		for _, c := range x {
			visit(c, false)
		}
	case []any:
		for _, c := range x {
			visit(c, true)
		}
	default:
		return 0, false
	}
	return max + 1, bad
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// encode marshals v without HTML escaping (a shadow holds "<" as sent).
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
