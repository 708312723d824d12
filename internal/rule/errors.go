package rule

import (
	"errors"
	"strconv"
)

// Sentinel errors. Errors returned by this package wrap one of them; compare
// with errors.Is.
var (
	// ErrSyntax means a SQL statement or template could not be parsed.
	ErrSyntax = errors.New("rule: syntax error")
	// ErrInvalid means a statement parsed but names an unknown function,
	// field or source, or calls a function with the wrong arguments.
	ErrInvalid = errors.New("rule: invalid statement")
	// ErrEval means evaluating an expression failed at run time (a type
	// mismatch, a division by zero, bad JSON, …); the rule counts as failed.
	ErrEval = errors.New("rule: evaluation failed")
	// ErrNotFound means no rule has the given id.
	ErrNotFound = errors.New("rule: not found")
	// ErrExists means a rule with the given id already exists.
	ErrExists = errors.New("rule: already exists")
	// ErrReadOnly means the rule comes from the configuration file and
	// cannot be changed through the API.
	ErrReadOnly = errors.New("rule: defined in the configuration file (read-only)")
	// ErrBadRule means a rule definition is refused: a bad id, no
	// statement, or an action that cannot be built.
	ErrBadRule = errors.New("rule: bad definition")
	// ErrNoMatch means a sample event given to Test does not match the
	// statement's FROM clause.
	ErrNoMatch = errors.New("rule: event does not match FROM")
	// ErrClosed means the Runner has been closed.
	ErrClosed = errors.New("rule: runner closed")
)

// Pos is a position in a statement: 1-based line and column (in runes).
type Pos struct {
	Line, Col int
}

// String formats p as "line:col".
func (p Pos) String() string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) }

// SQLError is a refusal of a statement, with the position of the offending
// token. Its text reads like "unknown function 'lowr' at 1:8".
type SQLError struct {
	Pos Pos
	// Msg describes the problem.
	Msg string
	// Err is ErrSyntax or ErrInvalid.
	Err error
}

// Error returns "msg at line:col".
func (e *SQLError) Error() string { return e.Msg + " at " + e.Pos.String() }

// Unwrap returns the sentinel.
func (e *SQLError) Unwrap() error { return e.Err }

func syntaxErr(p Pos, msg string) error { return &SQLError{Pos: p, Msg: msg, Err: ErrSyntax} }

func invalidErr(p Pos, msg string) error { return &SQLError{Pos: p, Msg: msg, Err: ErrInvalid} }
