package rule

import (
	"strconv"
	"strings"
)

// Expression grammar, loosest binding first:
//
//	expr    = or
//	or      = and { OR and }
//	and     = not { AND not }
//	not     = NOT not | cmp
//	cmp     = add [ cmpop add | [NOT] IN ( expr {, expr} ) | IS [NOT] NULL ]
//	add     = mul { (+ | -) mul }
//	mul     = unary { (* | / | DIV | MOD) unary }
//	unary   = (- | +) unary | postfix
//	postfix = primary { . key | [ expr ] | [ int .. int ] }
//	primary = number | 'string' | TRUE | FALSE | NULL | name | "name" | name ( [expr {, expr}] )
//	        | ( expr ) | [ [expr {, expr}] ] | [ int .. int ] | CASE …

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return syntaxErr(p.tok.pos, "expression nested too deeply")
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) expr() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.binaryLevel(0)
}

// levels lists the binary operators of each precedence level, loosest first;
// level 2 (NOT) and 3 (comparison) are parsed by their own functions.
var levels = [][]string{{"or"}, {"and"}, nil, nil, {"+", "-"}, {"*", "/", "div", "mod"}}

func (p *parser) binaryLevel(lvl int) (node, error) {
	switch lvl {
	case 2:
		return p.not()
	case 3:
		return p.comparison()
	case len(levels):
		return p.unary()
	}
	l, err := p.binaryLevel(lvl + 1)
	if err != nil {
		return nil, err
	}
	for {
		op, ok := p.operatorOf(levels[lvl])
		if !ok {
			return l, nil
		}
		pos := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.binaryLevel(lvl + 1)
		if err != nil {
			return nil, err
		}
		l = &binaryNode{p: pos, op: op, l: l, r: r}
	}
}

// operatorOf returns the current token as one of ops (keywords lower-cased).
func (p *parser) operatorOf(ops []string) (string, bool) {
	for _, op := range ops {
		if p.tok.is(op) || p.tok.keyword(op) {
			return op, true
		}
	}
	return "", false
}

func (p *parser) not() (node, error) {
	if !p.tok.keyword("not") {
		return p.comparison()
	}
	pos, x, err := p.prefixed(p.not)
	if err != nil {
		return nil, err
	}
	return &unaryNode{p: pos, op: "not", x: x}, nil
}

// prefixed consumes a prefix operator and parses its operand with
// operand, one nesting level deeper; it returns the operator's position.
func (p *parser) prefixed(operand func() (node, error)) (Pos, node, error) {
	pos := p.tok.pos
	if err := p.enter(); err != nil {
		return pos, nil, err
	}
	defer p.leave()
	if err := p.advance(); err != nil {
		return pos, nil, err
	}
	x, err := operand()
	return pos, x, err
}

var comparisons = []string{"=", "!=", "<>", "<", "<=", ">", ">=", "=~"}

func (p *parser) comparison() (node, error) {
	l, err := p.binaryLevel(4)
	if err != nil {
		return nil, err
	}
	pos := p.tok.pos
	if op, ok := p.operatorOf(comparisons); ok {
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.binaryLevel(4)
		if err != nil {
			return nil, err
		}
		if op == "<>" {
			op = "!="
		}
		return &binaryNode{p: pos, op: op, l: l, r: r}, nil
	}
	switch {
	case p.tok.keyword("is"):
		return p.isNull(l, pos)
	case p.tok.keyword("in"):
		return p.in(l, pos, false)
	case p.tok.keyword("not"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.tok.keyword("in") {
			return nil, syntaxErr(p.tok.pos, "expected IN after NOT, found "+p.tok.describe())
		}
		return p.in(l, pos, true)
	}
	return l, nil
}

func (p *parser) isNull(x node, pos Pos) (node, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	n := &isNullNode{p: pos, x: x}
	if p.tok.keyword("not") {
		n.not = true
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	return n, p.expectKeyword("null")
}

func (p *parser) in(x node, pos Pos, not bool) (node, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	list, err := p.list(")")
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, syntaxErr(pos, "IN needs at least one value")
	}
	return &inNode{p: pos, x: x, list: list, not: not}, nil
}

// list parses [expr {, expr}] up to and including the closing token.
func (p *parser) list(closing string) ([]node, error) {
	var out []node
	if p.tok.is(closing) {
		return out, p.advance()
	}
	for {
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		out = append(out, x)
		if p.tok.is(closing) {
			return out, p.advance()
		}
		if err := p.expectOp(","); err != nil {
			return nil, err
		}
	}
}

func (p *parser) unary() (node, error) {
	if !p.tok.is("-") && !p.tok.is("+") {
		return p.postfix()
	}
	minus := p.tok.is("-")
	pos, x, err := p.prefixed(p.unary)
	if err != nil || !minus {
		return x, err
	}
	if lit, ok := x.(*litNode); ok && (lit.v.k == KindInt || lit.v.k == KindFloat) {
		return &litNode{p: pos, v: negate(lit.v)}, nil
	}
	return &unaryNode{p: pos, op: "-", x: x}, nil
}

func (p *parser) postfix() (node, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.tok.is("."):
			pos := p.tok.pos
			if err := p.advance(); err != nil {
				return nil, err
			}
			k, err := p.pathKey()
			if err != nil {
				return nil, err
			}
			if p.tok.is("(") {
				// EMQX's module.func(): Erlang modules are not provided.
				return nil, invalidErr(pos, "unknown function '"+k+"': functions of other modules (module.func()) are not provided")
			}
			x = &dotNode{p: pos, x: x, name: k}
		case p.tok.is("["):
			pos := p.tok.pos
			if err := p.advance(); err != nil {
				return nil, err
			}
			if r, ok, err := p.rangeTail(pos); err != nil {
				return nil, err
			} else if ok {
				r.x = x
				x = r
				continue
			}
			i, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp("]"); err != nil {
				return nil, err
			}
			x = &indexNode{p: pos, x: x, i: i}
		default:
			return x, nil
		}
	}
}

// rangeTail parses "from..to]" after '[' when the tokens are a range
// ([1..4], [-3..-1]); ok is false, with nothing consumed, otherwise.
func (p *parser) rangeTail(pos Pos) (*rangeNode, bool, error) {
	save, saveLex := p.tok, *p.lex
	from, ok, err := p.signedInt()
	if err != nil || !ok || !p.tok.is("..") {
		p.tok, *p.lex = save, saveLex
		return nil, false, nil //nolint:nilerr // not a range: the caller parses an index instead
	}
	if err := p.advance(); err != nil {
		return nil, false, err
	}
	to, ok, err := p.signedInt()
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, syntaxErr(p.tok.pos, "expected an integer after '..', found "+p.tok.describe())
	}
	return &rangeNode{p: pos, from: from, to: to}, true, p.expectOp("]")
}

// signedInt reads [-|+]int; ok is false when the tokens are not that.
func (p *parser) signedInt() (int64, bool, error) {
	neg := p.tok.is("-")
	if neg || p.tok.is("+") {
		if err := p.advance(); err != nil {
			return 0, false, err
		}
	}
	if p.tok.kind != tInt {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(p.tok.text, 10, 64)
	if err != nil {
		return 0, false, nil //nolint:nilerr // out of range: not a range bound, the caller reports the index
	}
	if neg {
		n = -n
	}
	return n, true, p.advance()
}

func (p *parser) primary() (node, error) {
	t := p.tok
	switch t.kind {
	case tInt:
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			f, _ := strconv.ParseFloat(t.text, 64)
			return &litNode{p: t.pos, v: Float(f)}, p.advance()
		}
		return &litNode{p: t.pos, v: Int(n)}, p.advance()
	case tFloat:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, syntaxErr(t.pos, "bad number "+t.text)
		}
		return &litNode{p: t.pos, v: Float(f)}, p.advance()
	case tString:
		return &litNode{p: t.pos, v: String(t.text)}, p.advance()
	case tQuoted:
		if t.text == "" {
			return nil, syntaxErr(t.pos, "empty name")
		}
		return &identNode{p: t.pos, name: t.text}, p.advance()
	case tIdent:
		return p.name0(t)
	}
	switch {
	case t.is("("):
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		return x, p.expectOp(")")
	case t.is("["):
		if err := p.advance(); err != nil {
			return nil, err
		}
		if r, ok, err := p.rangeTail(t.pos); err != nil || ok {
			return r, err
		}
		elems, err := p.list("]")
		if err != nil {
			return nil, err
		}
		return &arrayNode{p: t.pos, elems: elems}, nil
	}
	return nil, syntaxErr(t.pos, "expected an expression, found "+t.describe())
}

// name0 parses what starts with a name: a keyword literal, CASE, a call or
// a field.
func (p *parser) name0(t token) (node, error) {
	switch {
	case t.keyword("true"), t.keyword("false"):
		return &litNode{p: t.pos, v: Bool(strings.EqualFold(t.text, "true"))}, p.advance()
	case t.keyword("null"):
		return &litNode{p: t.pos}, p.advance()
	case t.keyword("case"):
		return p.caseExpr()
	case (t.keyword("div") || t.keyword("mod")) && p.nextIs("("):
		// div(7, 2) and mod(3, 2): the operators as functions.
	case isReserved(t) || t.text == "":
		return nil, syntaxErr(t.pos, "expected an expression, found "+t.describe())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if !p.tok.is("(") || t.bq {
		return &identNode{p: t.pos, name: t.text}, nil
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.is("*") { // count(*)
		star := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return &callNode{p: t.pos, name: strings.ToLower(t.text), args: []node{&identNode{p: star.pos, name: "*"}}}, nil
	}
	args, err := p.list(")")
	if err != nil {
		return nil, err
	}
	return &callNode{p: t.pos, name: strings.ToLower(t.text), args: args}, nil
}

// nextIs reports whether the token after the current one is the operator op.
func (p *parser) nextIs(op string) bool {
	l := *p.lex
	t, err := l.next()
	return err == nil && t.is(op)
}

func (p *parser) caseExpr() (node, error) {
	n := &caseNode{p: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var err error
	if !p.tok.keyword("when") {
		if n.subject, err = p.expr(); err != nil {
			return nil, err
		}
	}
	for p.tok.keyword("when") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		var w whenClause
		if w.cond, err = p.expr(); err != nil {
			return nil, err
		}
		if err := p.expectKeyword("then"); err != nil {
			return nil, err
		}
		if w.then, err = p.expr(); err != nil {
			return nil, err
		}
		n.whens = append(n.whens, w)
	}
	if len(n.whens) == 0 {
		return nil, syntaxErr(p.tok.pos, "expected WHEN, found "+p.tok.describe())
	}
	if p.tok.keyword("else") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if n.els, err = p.expr(); err != nil {
			return nil, err
		}
	}
	return n, p.expectKeyword("end")
}
