package schema

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of them;
// compare with errors.Is.
var (
	// ErrInvalid means a schema definition is refused: a bad name or type,
	// or a source that does not compile (an *InvalidError then says where).
	ErrInvalid = errors.New("schema: invalid")
	// ErrNotFound means no schema has the given name, or the schema has no
	// message of the given name.
	ErrNotFound = errors.New("schema: not found")
	// ErrExists means a schema with the given name already exists.
	ErrExists = errors.New("schema: already exists")
	// ErrReadOnly means the schema comes from the configuration file and
	// cannot be changed through the API.
	ErrReadOnly = errors.New("schema: defined in the configuration file (read-only)")
	// ErrDecode means a payload could not be decoded with a schema.
	ErrDecode = errors.New("schema: decode failed")
	// ErrEncode means a value could not be encoded with a schema.
	ErrEncode = errors.New("schema: encode failed")
)

// InvalidError is a .proto source that does not compile, with the
// position of the first mistake. Its text reads like
// `schema "person": line 3, column 12: syntax error: unexpected '='`.
type InvalidError struct {
	// Schema is the schema's name.
	Schema string
	// Line and Column are 1-based; 0 when the mistake has no position.
	Line, Column int
	// Msg describes the mistake.
	Msg string
}

// Error formats the mistake with its position.
func (e *InvalidError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("schema %q: %s", e.Schema, e.Msg)
	}
	return fmt.Sprintf("schema %q: line %d, column %d: %s", e.Schema, e.Line, e.Column, e.Msg)
}

// Unwrap returns ErrInvalid.
func (e *InvalidError) Unwrap() error { return ErrInvalid }
