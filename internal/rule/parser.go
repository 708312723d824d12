package rule

import (
	"strconv"
	"strings"

	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// Limits that keep a hostile statement cheap to parse.
const (
	maxSQLLen   = 64 << 10
	maxDepth    = 64
	maxFromList = 64
)

// parser is a recursive-descent parser over the lexer with one token of
// look-ahead.
type parser struct {
	lex   *lexer
	src   string
	tok   token
	depth int
}

// parse parses one statement.
func parse(src string) (*statement, error) {
	if len(src) > maxSQLLen {
		return nil, syntaxErr(Pos{1, 1}, "statement longer than "+strconv.Itoa(maxSQLLen)+" bytes")
	}
	p := &parser{lex: newLexer(src), src: src}
	if err := p.advance(); err != nil {
		return nil, err
	}
	st, err := p.statement()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, syntaxErr(p.tok.pos, "unexpected "+p.tok.describe()+" after the statement")
	}
	return st, nil
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) expectKeyword(kw string) error {
	if !p.tok.keyword(kw) {
		return syntaxErr(p.tok.pos, "expected "+kw+", found "+p.tok.describe())
	}
	return p.advance()
}

func (p *parser) expectOp(op string) error {
	if !p.tok.is(op) {
		return syntaxErr(p.tok.pos, "expected '"+op+"', found "+p.tok.describe())
	}
	return p.advance()
}

func (p *parser) statement() (*statement, error) {
	st := &statement{}
	switch {
	case p.tok.keyword("select"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		cols, err := p.columns(true)
		if err != nil {
			return nil, err
		}
		st.columns = cols
	case p.tok.keyword("foreach"):
		if err := p.foreach(st); err != nil {
			return nil, err
		}
	default:
		return nil, syntaxErr(p.tok.pos, "expected SELECT or FOREACH, found "+p.tok.describe())
	}
	if err := p.expectKeyword("from"); err != nil {
		return nil, err
	}
	if err := p.from(st); err != nil {
		return nil, err
	}
	if p.tok.keyword("where") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		w, err := p.expr()
		if err != nil {
			return nil, err
		}
		st.where = w
	}
	return st, p.groupBy(st)
}

// groupBy parses [GROUP BY expr {, expr}] [HAVING expr] (windows.go).
func (p *parser) groupBy(st *statement) error {
	if p.tok.keyword("group") {
		if err := p.advance(); err != nil {
			return err
		}
		if err := p.expectKeyword("by"); err != nil {
			return err
		}
		for {
			x, err := p.expr()
			if err != nil {
				return err
			}
			st.groupBy = append(st.groupBy, x)
			if !p.tok.is(",") {
				break
			}
			if err := p.advance(); err != nil {
				return err
			}
		}
	}
	if p.tok.keyword("having") {
		if err := p.advance(); err != nil {
			return err
		}
		h, err := p.expr()
		if err != nil {
			return err
		}
		st.having = h
	}
	return nil
}

// foreach parses FOREACH expr [AS path] {, expr [AS path]} [DO columns]
// [INCASE expr]; the last expression before DO is the array.
func (p *parser) foreach(st *statement) error {
	if err := p.advance(); err != nil {
		return err
	}
	st.foreach = true
	cols, err := p.columns(false)
	if err != nil {
		return err
	}
	st.columns = cols
	if p.tok.keyword("do") {
		if err := p.advance(); err != nil {
			return err
		}
		if st.do, err = p.columns(true); err != nil {
			return err
		}
	}
	if p.tok.keyword("incase") {
		if err := p.advance(); err != nil {
			return err
		}
		if st.incase, err = p.expr(); err != nil {
			return err
		}
	}
	return nil
}

// name reads an identifier that is not a reserved word.
func (p *parser) name(what string) (string, error) {
	if !p.isName() {
		return "", syntaxErr(p.tok.pos, "expected "+what+", found "+p.tok.describe())
	}
	s := p.tok.text
	return s, p.advance()
}

// isName reports whether the current token can be a name: an identifier
// that is not a reserved word, a `backquoted` or a "double-quoted" one.
func (p *parser) isName() bool {
	t := p.tok
	return (t.kind == tIdent || t.kind == tQuoted) && t.text != "" && !isReserved(t)
}

var reserved = []string{"select", "foreach", "do", "incase", "from", "where", "as", "and", "or", "not",
	"in", "is", "case", "when", "then", "else", "end", "div", "mod"}

func isReserved(t token) bool {
	if t.kind != tIdent || t.bq {
		return false
	}
	for _, r := range reserved {
		if strings.EqualFold(t.text, r) {
			return true
		}
	}
	return false
}

// maxColumns bounds the columns of one SELECT, FOREACH or DO.
const maxColumns = 1024

// columns parses column {, column}; a column is * (when star is allowed)
// or expr [[AS] path].
func (p *parser) columns(star bool) ([]column, error) {
	var cols []column
	for {
		if len(cols) == maxColumns {
			return nil, syntaxErr(p.tok.pos, "too many columns")
		}
		if p.tok.is("*") {
			if !star {
				return nil, syntaxErr(p.tok.pos, "FOREACH takes expressions, not *")
			}
			cols = append(cols, column{star: true, text: "*"})
			if err := p.advance(); err != nil {
				return nil, err
			}
		} else {
			c, err := p.column()
			if err != nil {
				return nil, err
			}
			cols = append(cols, c)
		}
		if !p.tok.is(",") {
			return cols, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

func (p *parser) column() (column, error) {
	startTok := p.tok
	x, err := p.expr()
	if err != nil {
		return column{}, err
	}
	c := column{x: x, text: p.sourceText(startTok)}
	if p.tok.keyword("as") {
		if err := p.advance(); err != nil {
			return column{}, err
		}
		c.alias, err = p.aliasPath()
		return c, err
	}
	if p.isName() {
		c.alias, err = p.aliasPath() // EMQX accepts an alias without AS
	}
	return c, err
}

// aliasPath parses name {. name | [ [-]int ]}: where a column's value goes
// (meta.info, payload.params.x, c[-0]).
func (p *parser) aliasPath() ([]pathStep, error) {
	first, err := p.name("an alias after AS")
	if err != nil {
		return nil, err
	}
	path := []pathStep{{key: first}}
	for len(path) <= maxPathSteps {
		switch {
		case p.tok.is("."):
			if err := p.advance(); err != nil {
				return nil, err
			}
			k, err := p.pathKey()
			if err != nil {
				return nil, err
			}
			path = append(path, pathStep{key: k})
		case p.tok.is("["):
			s, err := p.aliasIndex()
			if err != nil {
				return nil, err
			}
			path = append(path, s)
		default:
			return path, nil
		}
	}
	return nil, syntaxErr(p.tok.pos, "alias path too long")
}

// aliasIndex parses [n], [-n], [0] (head) or [-0] (tail).
func (p *parser) aliasIndex() (pathStep, error) {
	if err := p.advance(); err != nil {
		return pathStep{}, err
	}
	neg := p.tok.is("-")
	if neg || p.tok.is("+") {
		if err := p.advance(); err != nil {
			return pathStep{}, err
		}
	}
	if p.tok.kind != tInt {
		return pathStep{}, syntaxErr(p.tok.pos, "expected an integer index in an alias, found "+p.tok.describe())
	}
	n, err := strconv.ParseInt(p.tok.text, 10, 64)
	if err != nil {
		return pathStep{}, syntaxErr(p.tok.pos, "bad index "+p.tok.text)
	}
	s := pathStep{kind: stepIndex, index: n}
	switch {
	case n == 0 && neg:
		s.kind = stepTail
	case n == 0:
		s.kind = stepHead
	case neg:
		s.index = -n
	}
	if err := p.advance(); err != nil {
		return pathStep{}, err
	}
	return s, p.expectOp("]")
}

// pathKey reads the key after '.': a name (keywords allowed), a number
// (a.1) or a quoted string (pub_props.'User-Property').
func (p *parser) pathKey() (string, error) {
	t := p.tok
	if (t.kind == tIdent || t.kind == tQuoted || t.kind == tString || t.kind == tInt) && t.text != "" {
		return t.text, p.advance()
	}
	return "", syntaxErr(t.pos, "expected a field name after '.', found "+t.describe())
}

// sourceText returns the text from the start token to the current token.
func (p *parser) sourceText(start token) string {
	from := offsetOf(p.src, start.pos)
	to := offsetOf(p.src, p.tok.pos)
	if p.tok.kind == tEOF {
		to = len(p.src)
	}
	if from < 0 || to < from {
		return ""
	}
	return strings.TrimSpace(p.src[from:to])
}

// offsetOf converts a line:col position back to a byte offset.
func offsetOf(src string, pos Pos) int {
	line, col := 1, 1
	for i, r := range src {
		if line == pos.Line && col == pos.Col {
			return i
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return len(src)
}

// from parses "filter" {, "filter"}.
func (p *parser) from(st *statement) error {
	for {
		if p.tok.kind != tQuoted && p.tok.kind != tString {
			return syntaxErr(p.tok.pos, `expected a topic filter in double quotes after FROM, found `+p.tok.describe())
		}
		src, err := parseSource(p.tok)
		if err != nil {
			return err
		}
		if len(st.from) == maxFromList {
			return syntaxErr(p.tok.pos, "too many sources in FROM")
		}
		st.from = append(st.from, src)
		if err := p.advance(); err != nil {
			return err
		}
		if !p.tok.is(",") {
			return nil
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}

// eventSources are the names accepted after "$events/".
var eventSources = map[string]msg.EventKind{
	"message_delivered":    msg.EventMessageDelivered,
	"message_acked":        msg.EventMessageAcked,
	"message_dropped":      msg.EventMessageDropped,
	"client_connected":     msg.EventClientConnected,
	"client_disconnected":  msg.EventClientDisconnected,
	"session_subscribed":   msg.EventSessionSubscribed,
	"session_unsubscribed": msg.EventSessionUnsubscribed,
	"delivery_dropped":     msg.EventDeliveryDropped,
	"client_connack":       msg.EventClientConnack,

	"client_check_authn_complete": msg.EventClientAuthnComplete,
	"client_check_authz_complete": msg.EventClientAuthzComplete,
}

func parseSource(t token) (source, error) {
	if name, ok := strings.CutPrefix(t.text, "$events/"); ok {
		k, known := eventSources[name]
		if !known {
			return source{}, invalidErr(t.pos, "unknown event source '"+t.text+"'")
		}
		return source{p: t.pos, event: k}, nil
	}
	if err := topic.ValidateFilter(t.text); err != nil {
		return source{}, invalidErr(t.pos, "bad topic filter '"+t.text+"': "+err.Error())
	}
	if strings.HasPrefix(t.text, "$share/") {
		return source{}, invalidErr(t.pos, "a shared subscription cannot be a rule source")
	}
	return source{p: t.pos, filter: t.text}, nil
}
