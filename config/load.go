package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Limits on what one file may cost to decode: aliases can make a small file
// expand a lot, and a broken file should not print thousands of errors.
const (
	maxErrors    = 50
	nodesPerByte = 8
)

// Load returns the configuration: Defaults, then the YAML file at path (if
// path is not ""), then the IOTHUB_ variables of environ (os.Environ()
// form), then normalisation (unnamed listeners are named after their list)
// and Validate. All problems found are returned joined, each a *KeyError
// naming its key path and where the value came from; with them, unless
// the file is not YAML at all, the configuration as far as it decoded (a
// setting in error keeps its default), for a caller that checks the rest
// of it too (`iothub config check`).
func Load(path string, environ []string) (Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
	}
	return parse(data, path, environ)
}

// Parse is Load for a file already read, without the environment: data is
// the YAML text and name is used in error messages. Empty data gives the
// defaults.
func Parse(data []byte, name string) (Config, error) {
	return parse(data, name, nil)
}

func parse(data []byte, name string, environ []string) (Config, error) {
	c := Defaults()
	at := origins{}
	// Every problem at once: type errors, bad environment variables and
	// value errors of what did decode (a setting with a type error keeps
	// its default, so it adds no value error of its own).
	derr := decode(&c, data, name, at)
	var kerr *KeyError
	if errors.As(derr, &kerr) && errors.Is(kerr, ErrSyntax) {
		return Config{}, derr // not YAML: nothing to check further
	}
	envErrs := applyEnv(&c, environ, at)
	c.nameListeners()
	errs := c.validate()
	for _, e := range errs {
		o := at.of(e.Key)
		e.Source, e.Line = o.source, o.line
	}
	var all []error
	for _, e := range []error{derr, envErrs.join(), errs.join()} {
		if multi, ok := e.(interface{ Unwrap() []error }); ok { //nolint:errorlint // flattening errors.Join's own value
			all = append(all, multi.Unwrap()...)
		} else if e != nil {
			all = append(all, e)
		}
	}
	if len(all) > 0 {
		return c, errors.Join(all...)
	}
	return c, nil
}

// YAML returns c as YAML, every key included: the effective configuration
// printed by `iothub config check`. Parse reads it back to c.
func (c Config) YAML() ([]byte, error) {
	var b bytes.Buffer
	e := yaml.NewEncoder(&b)
	e.SetIndent(2)
	if err := e.Encode(toNode(reflect.ValueOf(c))); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := e.Close(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return b.Bytes(), nil
}

// toNode builds the YAML tree of v by the same walk as the decoder.
// Marshalling the struct directly would let yaml.v3 pick block styles it
// cannot always read back (a string starting with a tab and a newline);
// strings with control characters are double-quoted here instead.
func toNode(v reflect.Value) *yaml.Node { return encodeNode(v, true) }

// encodeNode is toNode; redact replaces set secrets.
func encodeNode(v reflect.Value, redact bool) *yaml.Node {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct && t != durationType:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range fields(v) {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.name},
				encodeNode(f.v, redact))
		}
		return n
	case t.Kind() == reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Len() == 0 {
			n.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			n.Content = append(n.Content, encodeNode(v.Index(i), redact))
		}
		return n
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: formatScalar(v)}
	if redact && t == secretType && n.Value != "" {
		n.Value = redacted
	}
	switch t.Kind() {
	case reflect.Bool:
		n.Tag = "!!bool"
	case reflect.Int:
		if t != durationType {
			n.Tag = "!!int"
		}
	}
	if strings.ContainsFunc(n.Value, unicode.IsControl) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// origin is where a key's value came from.
type origin struct {
	source string
	line   int
}

// origins maps key paths to where their values came from.
type origins map[string]origin

// of returns the origin of key, or of its nearest ancestor that has one.
func (o origins) of(key string) origin {
	for {
		if p, ok := o[key]; ok {
			return p
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			return origin{}
		}
		key = key[:i]
	}
}

// decode decodes the YAML document in data onto c strictly: every key must
// name a setting, every value must have the setting's type. yaml.v3's own
// KnownFields(true) would report only the first unknown key, without its
// path; walking the node tree reports all of them with path and line.
func decode(c *Config, data []byte, name string, at origins) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return syntaxError(name, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return &KeyError{Source: name, Line: extra.Line, Err: ErrSyntax,
			Msg: "a second YAML document; the file must hold one"}
	case !errors.Is(err, io.EOF):
		return syntaxError(name, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isNull(root) || root.Kind == yaml.DocumentNode {
		return nil // no content, or only comments
	}
	if root.Kind != yaml.MappingNode {
		return &KeyError{Source: name, Line: root.Line, Err: ErrBadValue,
			Msg: "the top level must be a mapping, got " + kindName(root)}
	}
	d := &decoder{name: name, at: at, budget: nodesPerByte*len(data) + 1000}
	d.value(root, reflect.ValueOf(c).Elem(), "")
	c.Warnings = append(c.Warnings, d.warns...)
	return d.errs.join()
}

// syntaxError turns a yaml.v3 error ("yaml: line 3: did not find …") into a
// *KeyError with the line.
func syntaxError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				line, msg = l, after
			}
		}
	}
	return &KeyError{Source: name, Line: line, Msg: msg, Err: ErrSyntax}
}

// decoder walks a YAML node tree alongside a Config.
type decoder struct {
	name   string
	at     origins
	errs   errorList
	warns  errorList // deprecated keys read
	budget int       // nodes left to visit
	legacy bool      // a version 1 bridges.json entry (bridgeEntry)
}

func (d *decoder) fail(n *yaml.Node, sentinel error, key, format string, args ...any) {
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, &KeyError{Source: d.name, Line: n.Line, Err: ErrBadValue,
			Msg: "too many errors, stopping"})
	}
	if len(d.errs) > maxErrors {
		return
	}
	d.errs = append(d.errs, &KeyError{Source: d.name, Line: n.Line, Key: key,
		Msg: fmt.Sprintf(format, args...), Err: sentinel})
}

// value decodes n onto v, the setting at key.
func (d *decoder) value(n *yaml.Node, v reflect.Value, key string) {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.fail(n, ErrBadValue, key, "document too large once aliases are expanded")
		}
		return
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct && t != durationType:
		d.mapping(n, v, key)
	case isStructList(t):
		d.list(n, v, key)
	case t.Kind() == reflect.Slice:
		d.stringList(n, v, key)
	case n.Kind != yaml.ScalarNode:
		d.fail(n, ErrBadValue, key, "expected %s, got %s", typeName(t), kindName(n))
	case isNull(n) && t.Kind() != reflect.String:
		d.fail(n, ErrBadValue, key, "missing value, expected %s", typeName(t))
	default:
		if err := setScalar(v, n.Value); err != nil {
			d.fail(n, ErrBadValue, key, "%v", err)
		}
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, key string) {
	if isNull(n) {
		return // an empty section keeps its defaults
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, ErrBadValue, key, "expected a mapping, got %s", kindName(n))
		return
	}
	if v.Type() == bridgeType {
		d.bridgeEntry(n, v, key)
	}
	fs := fields(v)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			d.fail(kn, ErrBadValue, key, "keys must be plain strings, got %s", kindName(kn))
			continue
		}
		k := join(key, kn.Value)
		if line, dup := seen[kn.Value]; dup {
			d.fail(kn, ErrBadValue, k, "duplicate key (first at line %d)", line)
			continue
		}
		seen[kn.Value] = kn.Line
		f := slices.IndexFunc(fs, func(f field) bool { return f.name == kn.Value })
		if f < 0 {
			if msg, skip := unknownKeyHint(v, kn.Value, fs); !skip {
				d.fail(kn, ErrUnknownKey, k, "%s", msg)
			}
			continue
		}
		d.at[k] = origin{d.name, kn.Line}
		d.value(vn, fs[f].v, k)
	}
}

func (d *decoder) list(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.SequenceNode && !isNull(n) {
		d.fail(n, ErrBadValue, key, "expected a list, got %s", kindName(n))
		return
	}
	list := reflect.Zero(v.Type())
	for i, en := range n.Content {
		k := join(key, strconv.Itoa(i))
		d.at[k] = origin{d.name, en.Line}
		e := newElem(v.Type().Elem())
		d.value(en, e, k)
		list = reflect.Append(list, e)
	}
	v.Set(list)
}

func (d *decoder) stringList(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.SequenceNode && !isNull(n) {
		d.fail(n, ErrBadValue, key, "expected a list of strings, got %s", kindName(n))
		return
	}
	var list []string
	for i, en := range n.Content {
		if en.Kind != yaml.ScalarNode || isNull(en) {
			d.fail(en, ErrBadValue, join(key, strconv.Itoa(i)), "expected a string, got %s", kindName(en))
			continue
		}
		list = append(list, en.Value)
	}
	v.Set(reflect.ValueOf(list))
}

// suggest returns a hint naming the closest valid key, or "".
func suggest(name string, fs []field) string {
	if name == "<<" {
		return "YAML merge keys are not supported"
	}
	best, bestDist := "", min(3, len(name)/3+1) // a close key, not any short one
	for _, f := range fs {
		if dist := editDistance(name, f.name); dist < bestDist {
			best, bestDist = f.name, dist
		}
	}
	if best == "" {
		return ""
	}
	return "did you mean " + strconv.Quote(best) + "?"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "null"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.AliasNode:
		return "an alias"
	}
	return strconv.Quote(n.Value)
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int:
		return "an integer"
	}
	return "a string"
}
