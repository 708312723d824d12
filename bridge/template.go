package bridge

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Template is text with ${name} placeholders, used by sources to build
// MQTT topics and payloads from what they consume ("vehicles/${key}/command",
// "${headers.trace_id}"). A name is one of the fields the template was
// parsed for, or, when a prefix such as "headers." is allowed, that prefix
// and any key. "$$" is a literal "$".
//
// It is deliberately small: the rule engine's templates (internal/rule)
// render rule outputs with JSON paths; sources only need flat fields.
// Unifying the two is noted in docs/bridges.md.
type Template struct {
	raw   string
	parts []tplPart
}

type tplPart struct {
	lit  string
	name string // "" for a literal
}

// TemplateError is a template naming an unknown field, or malformed.
type TemplateError struct {
	// Template is the template's text.
	Template string
	// Column is the 1-based column (in characters) of the problem.
	Column int
	// Msg says what is wrong.
	Msg string
}

// Error implements error.
func (e *TemplateError) Error() string {
	return fmt.Sprintf("template %q, column %d: %s", e.Template, e.Column, e.Msg)
}

// ParseTemplate parses s; fields are the names allowed, prefixes the
// allowed name prefixes (such as "headers.").
func ParseTemplate(s string, fields, prefixes []string) (*Template, error) {
	t := &Template{raw: s}
	var lit strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			lit.WriteByte('$')
			i += 2
			continue
		case !strings.HasPrefix(s[i:], "${"):
			lit.WriteByte(s[i])
			i++
			continue
		}
		col := utf8.RuneCountInString(s[:i]) + 1
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, &TemplateError{s, col, "unterminated ${"}
		}
		name := strings.TrimSpace(s[i+2 : i+end])
		if !known(name, fields, prefixes) {
			return nil, &TemplateError{s, col + 2, fmt.Sprintf("unknown field %q (known: %s)", name, strings.Join(append(slices.Clone(fields), prefixesDoc(prefixes)...), ", "))}
		}
		if lit.Len() > 0 {
			t.parts = append(t.parts, tplPart{lit: lit.String()})
			lit.Reset()
		}
		t.parts = append(t.parts, tplPart{name: name})
		i += end + 1
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, tplPart{lit: lit.String()})
	}
	return t, nil
}

func known(name string, fields, prefixes []string) bool {
	if slices.Contains(fields, name) {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return true
		}
	}
	return false
}

func prefixesDoc(prefixes []string) []string {
	out := make([]string, len(prefixes))
	for i, p := range prefixes {
		out[i] = p + "<name>"
	}
	return out
}

// String returns the template's text.
func (t *Template) String() string { return t.raw }

// Append appends the template rendered with lookup to dst.
func (t *Template) Append(dst []byte, lookup func(name string) []byte) []byte {
	for _, p := range t.parts {
		if p.name == "" {
			dst = append(dst, p.lit...)
		} else {
			dst = append(dst, lookup(p.name)...)
		}
	}
	return dst
}

// Render returns the template rendered with lookup.
func (t *Template) Render(lookup func(name string) []byte) string {
	return string(t.Append(nil, lookup))
}
