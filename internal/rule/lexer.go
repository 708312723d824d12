package rule

import (
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token.
type tokKind uint8

const (
	tEOF    tokKind = iota
	tIdent          // name or keyword; keywords are recognised by the parser
	tInt            // 42
	tFloat          // 4.2, 1e3
	tString         // 'text' (single quotes)
	tQuoted         // "text" (double quotes: a topic filter after FROM, a name elsewhere)
	tOp             // punctuation and operators
)

// token is one lexical token; text is the identifier, the operator, the
// number's digits or the string's decoded value.
type token struct {
	kind tokKind
	text string
	pos  Pos
	bq   bool // a `backquoted` or "double-quoted" name: never a keyword
}

func (t token) is(op string) bool { return t.kind == tOp && t.text == op }

// keyword reports whether t is the identifier kw (case-insensitive).
func (t token) keyword(kw string) bool {
	return t.kind == tIdent && !t.bq && strings.EqualFold(t.text, kw)
}

// describe names the token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of statement"
	case tString:
		return "string '" + t.text + "'"
	case tQuoted:
		return `string "` + t.text + `"`
	}
	return "'" + t.text + "'"
}

// lexer splits a statement into tokens, tracking line and column.
type lexer struct {
	src       string
	off       int
	line, col int
}

func newLexer(src string) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (l *lexer) pos() Pos { return Pos{Line: l.line, Col: l.col} }

// advance moves past n bytes that hold no newline.
func (l *lexer) advance(n int) {
	l.col += utf8.RuneCountInString(l.src[l.off : l.off+n])
	l.off += n
}

func (l *lexer) skipSpace() error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == '\n':
			l.off++
			l.line++
			l.col = 1
		case c == ' ' || c == '\t' || c == '\r':
			l.advance(1)
		case c == '-' && strings.HasPrefix(l.src[l.off:], "--"):
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance(1)
			}
		case c == '/' && strings.HasPrefix(l.src[l.off:], "/*"):
			start := l.pos()
			end := strings.Index(l.src[l.off+2:], "*/")
			if end < 0 {
				return syntaxErr(start, "unterminated comment")
			}
			l.skipText(end + 4)
		default:
			return nil
		}
	}
	return nil
}

// skipText moves past n bytes that may hold newlines.
func (l *lexer) skipText(n int) {
	for _, r := range l.src[l.off : l.off+n] {
		if r == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
	}
	l.off += n
}

// operators, longest first so that "<=" wins over "<".
var operators = []string{"<>", "!=", "<=", ">=", "=~", "..", "=", "<", ">", "+", "-", "*", "/", ",", ".", "(", ")", "[", "]"}

// next returns the next token.
func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := l.src[l.off]
	switch {
	case isIdentStart(c):
		n := 1
		for l.off+n < len(l.src) && isIdentChar(l.src[l.off+n]) {
			n++
		}
		t := token{kind: tIdent, text: l.src[l.off : l.off+n], pos: p}
		l.advance(n)
		return t, nil
	case c >= '0' && c <= '9':
		return l.number(p)
	case c == '\'' || c == '"' || c == '`':
		return l.quoted(p, c)
	}
	for _, op := range operators {
		if strings.HasPrefix(l.src[l.off:], op) {
			l.advance(len(op))
			return token{kind: tOp, text: op, pos: p}, nil
		}
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off:])
	return token{}, syntaxErr(p, "unexpected character "+quoteRune(r))
}

func quoteRune(r rune) string {
	if r == utf8.RuneError {
		return "(invalid UTF-8)"
	}
	return "'" + string(r) + "'"
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// number lexes 12, 1.5, 1e-3, 2.5E+10.
func (l *lexer) number(p Pos) (token, error) {
	s := l.src[l.off:]
	n := digits(s, 0)
	kind := tInt
	if n < len(s) && s[n] == '.' && n+1 < len(s) && s[n+1] >= '0' && s[n+1] <= '9' {
		n = digits(s, n+1)
		kind = tFloat
	}
	if n < len(s) && (s[n] == 'e' || s[n] == 'E') {
		m := n + 1
		if m < len(s) && (s[m] == '+' || s[m] == '-') {
			m++
		}
		if e := digits(s, m); e > m {
			n, kind = e, tFloat
		}
	}
	if n < len(s) && isIdentChar(s[n]) {
		return token{}, syntaxErr(p, "bad number "+strings.TrimSpace(s[:n+1]))
	}
	t := token{kind: kind, text: s[:n], pos: p}
	l.advance(n)
	return t, nil
}

func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// quoted lexes 'text', "text" or `name`. As in EMQX, the text is taken as
// written: a backslash is an ordinary character (so '^\d+$' is a regular
// expression as written), and a doubled quote stands for itself.
// Backquotes make an identifier.
func (l *lexer) quoted(p Pos, q byte) (token, error) {
	var b strings.Builder
	i := l.off + 1
	for {
		if i >= len(l.src) {
			return token{}, syntaxErr(p, "unterminated string")
		}
		c := l.src[i]
		switch {
		case c == q && i+1 < len(l.src) && l.src[i+1] == q:
			b.WriteByte(q)
			i += 2
		case c == q:
			kind := tString
			switch q {
			case '"':
				kind = tQuoted
			case '`':
				kind = tIdent
			}
			l.skipText(i + 1 - l.off)
			return token{kind: kind, text: b.String(), pos: p, bq: q != '\''}, nil
		default:
			b.WriteByte(c)
			i++
		}
	}
}
