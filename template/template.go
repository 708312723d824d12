package template

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Part is a piece of a template: literal text, or one placeholder.
type Part struct {
	// Lit is literal text, with "$$" already turned into "$"; "" for a
	// placeholder.
	Lit string
	// Source is what stands between "${" and "}", spaces trimmed; "" for
	// literal text.
	Source string
	// Column is the 1-based column, in characters, where Source starts in
	// the template (0 for literal text).
	Column int
}

// IsPlaceholder reports whether p is a placeholder.
func (p Part) IsPlaceholder() bool { return p.Column > 0 }

// Error is a template refused at a column: malformed, or naming what its
// user does not know.
type Error struct {
	// Template is the template's text.
	Template string
	// Column is the 1-based column, in characters, of the problem.
	Column int
	// Msg says what is wrong.
	Msg string
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("template %q, column %d: %s", e.Template, e.Column, e.Msg)
}

// Split cuts s into its parts, in order; adjacent literal text is one part.
// An unterminated "${" and an empty placeholder are an *Error.
func Split(s string) ([]Part, error) {
	var parts []Part
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
			return nil, &Error{s, col, "unterminated ${"}
		}
		inner := s[i+2 : i+end]
		trimmed := strings.TrimLeftFunc(inner, unicode.IsSpace)
		src := strings.TrimRightFunc(trimmed, unicode.IsSpace)
		if src == "" {
			return nil, &Error{s, col, "empty ${}"}
		}
		if lit.Len() > 0 {
			parts = append(parts, Part{Lit: lit.String()})
			lit.Reset()
		}
		lead := utf8.RuneCountInString(inner[:len(inner)-len(trimmed)])
		parts = append(parts, Part{Source: src, Column: col + 2 + lead})
		i += end + 1
	}
	if lit.Len() > 0 {
		parts = append(parts, Part{Lit: lit.String()})
	}
	return parts, nil
}

// Names returns the sources of the placeholders of parts, in order.
func Names(parts []Part) []string {
	var out []string
	for _, p := range parts {
		if p.IsPlaceholder() {
			out = append(out, p.Source)
		}
	}
	return out
}
