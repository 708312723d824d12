package shadow

import (
	"errors"
	"fmt"
)

// Error is a refused shadow request, as AWS IoT reports it: an HTTP status
// code and its message ({"code": 409, "message": "Version conflict"}).
type Error struct {
	// Code is the HTTP status code (400, 404, 409, 413, 415, 429, 500).
	Code int
	// Message is AWS's message for the case.
	Message string
}

// Error returns "shadow: CODE MESSAGE".
func (e *Error) Error() string { return fmt.Sprintf("shadow: %d %s", e.Code, e.Message) }

// The errors a request can meet, with AWS's messages.
var (
	errInvalidJSON     = &Error{400, "Invalid JSON"}
	errMissingState    = &Error{400, "Missing required node: state"}
	errStateNotObject  = &Error{400, "State node must be an object"}
	errDesiredNotObj   = &Error{400, "Desired node must be an object"}
	errReportedNotObj  = &Error{400, "Reported node must be an object"}
	errInvalidVersion  = &Error{400, "Invalid version"}
	errInvalidToken    = &Error{400, "Invalid clientToken"}
	errInvalidNode     = &Error{400, "State contains an invalid node"}
	errVersionConflict = &Error{409, "Version conflict"}
	errTooLarge        = &Error{413, "The payload exceeds the maximum size allowed"}
	errEncoding        = &Error{415, "Unsupported documented encoding; supported encoding is UTF-8"}
	errBusy            = &Error{429, "Too Many Requests"}
	errInternal        = &Error{500, "Internal service failure"}
)

// tooDeep is AWS's nesting error for a maximum of max levels.
func tooDeep(max int) *Error {
	return &Error{400, fmt.Sprintf("JSON contains too many levels of nesting; maximum is %d", max)}
}

// notFound is the 404 of a missing shadow; AWS names the thing for the
// classic shadow and the shadow for a named one.
func notFound(thingName, name string) *Error {
	if name == "" {
		name = thingName
	}
	return &Error{404, fmt.Sprintf("No shadow exists with name: '%s'", name)}
}

// ErrNotFound is returned by Store.Get for a shadow never written.
var ErrNotFound = errors.New("shadow: not found")

// ErrConflict is returned by Store.Put when the stored version is not the
// expected one.
var ErrConflict = errors.New("shadow: version conflict in store")

// AsError returns err as an *Error when it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
