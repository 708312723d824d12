package rule

import (
	"errors"

	"github.com/iothub-dev/iothub/template"
)

// Template is text with ${path} placeholders, such as "alarms/${clientid}"
// or "${payload.battery}", parsed once and rendered against an Output. A
// path is a name followed by .name and [n] steps (n a constant, 1-based).
// The name is looked up among the output's fields first, then among the
// event's fields. A missing value renders as "", numbers in their shortest
// form, objects and arrays as JSON. "$$" renders a literal "$".
type Template struct {
	raw   string
	parts []tplPart
}

type tplPart struct {
	lit   string
	root  string // "" for a literal part
	steps []step
}

// maxTemplateLen bounds a template's length.
const maxTemplateLen = 16 << 10

// ParseTemplate parses s (package template's ${…} syntax). Errors are
// *SQLError with the position of the bad placeholder (line 1, column in
// s).
func ParseTemplate(s string) (*Template, error) {
	if len(s) > maxTemplateLen {
		return nil, syntaxErr(Pos{1, 1}, "template too long")
	}
	parts, err := template.Split(s)
	var te *template.Error
	if errors.As(err, &te) {
		return nil, syntaxErr(Pos{1, te.Column}, te.Msg+" in template")
	}
	t := &Template{raw: s}
	for _, p := range parts {
		if !p.IsPlaceholder() {
			t.parts = append(t.parts, tplPart{lit: p.Lit})
			continue
		}
		part, err := parsePlaceholder(p.Source, p.Column)
		if err != nil {
			return nil, err
		}
		t.parts = append(t.parts, part)
	}
	return t, nil
}

// parsePlaceholder parses the path inside ${…}.
func parsePlaceholder(src string, col int) (tplPart, error) {
	shift := func(err error) error {
		var e *SQLError
		if errors.As(err, &e) {
			e.Pos = Pos{1, col + e.Pos.Col - 1}
		}
		return err
	}
	p := &parser{lex: newLexer(src), src: src}
	if err := p.advance(); err != nil {
		return tplPart{}, shift(err)
	}
	if p.tok.kind != tIdent || p.tok.text == "" {
		return tplPart{}, shift(syntaxErr(p.tok.pos, "expected a field name in ${…}, found "+p.tok.describe()))
	}
	x, err := p.postfix()
	if err != nil {
		return tplPart{}, shift(err)
	}
	if p.tok.kind != tEOF {
		return tplPart{}, shift(syntaxErr(p.tok.pos, "unexpected "+p.tok.describe()+" in ${…}"))
	}
	var steps []step
	for {
		switch n := x.(type) {
		case *dotNode:
			steps = append(steps, step{key: n.name})
			x = n.x
			continue
		case *indexNode:
			lit, ok := n.i.(*litNode)
			if !ok {
				return tplPart{}, shift(syntaxErr(n.p, "a template index must be a constant"))
			}
			steps = append(steps, step{idx: constFn(lit.v)})
			x = n.x
			continue
		case *identNode:
			for i, j := 0, len(steps)-1; i < j; i, j = i+1, j-1 {
				steps[i], steps[j] = steps[j], steps[i]
			}
			return tplPart{root: n.name, steps: steps}, nil
		}
		return tplPart{}, shift(syntaxErr(x.pos(), "expected a field path in ${…}"))
	}
}

// String returns the template's source text.
func (t *Template) String() string { return t.raw }

// Constant reports whether the template has no placeholder.
func (t *Template) Constant() bool {
	for _, p := range t.parts {
		if p.root != "" {
			return false
		}
	}
	return true
}

// Roots returns the names the placeholders start with.
func (t *Template) Roots() []string {
	var out []string
	for _, p := range t.parts {
		if p.root != "" {
			out = append(out, p.root)
		}
	}
	return out
}

// Render returns the template filled from o.
func (t *Template) Render(o *Output) string {
	if len(t.parts) == 1 && t.parts[0].root == "" {
		return t.parts[0].lit
	}
	return string(t.Append(nil, o))
}

// Append appends the rendered template to dst.
func (t *Template) Append(dst []byte, o *Output) []byte {
	for _, p := range t.parts {
		if p.root == "" {
			dst = append(dst, p.lit...)
			continue
		}
		dst = p.value(o).appendText(dst)
	}
	return dst
}

// Value returns the value of a template made of exactly one placeholder
// (so "${qos}" can give an int), and false for any other template.
func (t *Template) Value(o *Output) (Value, bool) {
	if len(t.parts) != 1 || t.parts[0].root == "" {
		return Null, false
	}
	return t.parts[0].value(o), true
}

func (p *tplPart) value(o *Output) Value {
	v := o.lookup(p.root, len(p.steps) > 0)
	if len(p.steps) == 0 {
		return v
	}
	v, err := walk(nil, v, p.steps)
	if err != nil {
		return Null
	}
	return v
}
