package bridge

import (
	"fmt"
	"slices"
	"strings"

	"github.com/iothub-dev/iothub/template"
)

// Template is a template (package template's ${…} syntax) used by sources
// to build MQTT topics and payloads from what they consume
// ("vehicles/${key}/command", "${headers.trace_id}"). A placeholder is one
// of the fields the template was parsed for, or, when a prefix such as
// "headers." is allowed, that prefix and any key.
type Template struct {
	raw   string
	parts []template.Part
}

// TemplateError is a template naming an unknown field, or malformed.
type TemplateError = template.Error

// ParseTemplate parses s; fields are the names allowed, prefixes the
// allowed name prefixes (such as "headers."). Errors are *TemplateError.
func ParseTemplate(s string, fields, prefixes []string) (*Template, error) {
	parts, err := template.Split(s)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		if p.IsPlaceholder() && !known(p.Source, fields, prefixes) {
			return nil, &TemplateError{Template: s, Column: p.Column,
				Msg: fmt.Sprintf("unknown field %q (known: %s)", p.Source, strings.Join(append(slices.Clone(fields), prefixesDoc(prefixes)...), ", "))}
		}
	}
	return &Template{raw: s, parts: parts}, nil
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
		if p.IsPlaceholder() {
			dst = append(dst, lookup(p.Source)...)
		} else {
			dst = append(dst, p.Lit...)
		}
	}
	return dst
}

// Render returns the template rendered with lookup.
func (t *Template) Render(lookup func(name string) []byte) string {
	return string(t.Append(nil, lookup))
}
