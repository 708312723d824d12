package rule

import "github.com/iothub-dev/iothub/msg"

// node is an expression of the syntax tree.
type node interface{ pos() Pos }

type (
	// litNode is a constant: number, string, true, false or null.
	litNode struct {
		p Pos
		v Value
	}
	// identNode is a bare name: an event field, an alias or the FOREACH item.
	identNode struct {
		p    Pos
		name string
	}
	// dotNode is x.name.
	dotNode struct {
		p    Pos
		x    node
		name string
	}
	// indexNode is x[i] (1-based; negative counts from the end).
	indexNode struct {
		p    Pos
		x, i node
	}
	// callNode is name(args…).
	callNode struct {
		p    Pos
		name string
		args []node
	}
	// unaryNode is -x or NOT x.
	unaryNode struct {
		p  Pos
		op string
		x  node
	}
	// binaryNode is l op r; op is lower case ("and", "div", "=~", …).
	binaryNode struct {
		p    Pos
		op   string
		l, r node
	}
	// inNode is x [NOT] IN (list…).
	inNode struct {
		p    Pos
		x    node
		list []node
		not  bool
	}
	// isNullNode is x IS [NOT] NULL.
	isNullNode struct {
		p   Pos
		x   node
		not bool
	}
	// caseNode is CASE [subject] WHEN … THEN … [ELSE …] END.
	caseNode struct {
		p       Pos
		subject node // nil for a searched CASE
		whens   []whenClause
		els     node // nil: NULL
	}
	// arrayNode is [a, b, …].
	arrayNode struct {
		p     Pos
		elems []node
	}
	// rangeNode is x[from..to] (a slice of an array, 1-based, ends
	// included), or the array [from, …, to] when x is nil.
	rangeNode struct {
		p        Pos
		x        node
		from, to int64
	}
)

type whenClause struct{ cond, then node }

func (n *litNode) pos() Pos    { return n.p }
func (n *identNode) pos() Pos  { return n.p }
func (n *dotNode) pos() Pos    { return n.p }
func (n *indexNode) pos() Pos  { return n.p }
func (n *callNode) pos() Pos   { return n.p }
func (n *unaryNode) pos() Pos  { return n.p }
func (n *binaryNode) pos() Pos { return n.p }
func (n *inNode) pos() Pos     { return n.p }
func (n *isNullNode) pos() Pos { return n.p }
func (n *caseNode) pos() Pos   { return n.p }
func (n *arrayNode) pos() Pos  { return n.p }
func (n *rangeNode) pos() Pos  { return n.p }

// column is one item of SELECT, FOREACH or DO: an expression and where its
// value goes in the output, or * (every field of the event).
type column struct {
	star  bool
	x     node
	alias []pathStep // nil when no alias was given
	text  string     // the expression's source text
}

// pathStep is one step of an alias or of a constant path: a key, or an
// array index (1-based, negative from the end; head and tail insert at
// the front and at the end).
type pathStep struct {
	key   string
	index int64
	kind  stepKind
}

type stepKind uint8

const (
	stepKey stepKind = iota
	stepIndex
	stepHead // [0]: insert before the first element
	stepTail // [-0]: append after the last element
)

// source is one entry of FROM: a topic filter, or an $events/… name.
type source struct {
	p      Pos
	filter string        // topic filter for message sources
	event  msg.EventKind // non-zero for $events/… sources
}

// statement is a parsed SELECT or FOREACH. For FOREACH, columns are the
// expressions between FOREACH and DO (the last one is the array) and do
// the DO columns.
type statement struct {
	foreach bool
	columns []column
	do      []column
	incase  node
	from    []source
	where   node
	groupBy []node // GROUP BY items: a window and the group keys
	having  node
}
