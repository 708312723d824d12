package config

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors; every error returned by this package for a bad key or
// value is a *KeyError that unwraps to one of them.
var (
	// ErrSyntax means the file is not well-formed YAML.
	ErrSyntax = errors.New("config: yaml syntax error")
	// ErrUnknownKey means a key (or environment variable passed to Set) names
	// no setting.
	ErrUnknownKey = errors.New("config: unknown key")
	// ErrBadValue means a value has the wrong type or cannot be parsed.
	ErrBadValue = errors.New("config: bad value")
	// ErrInvalid means a value parsed but Validate refused it.
	ErrInvalid = errors.New("config: invalid value")
	// ErrDeprecated marks a warning (Config.Warnings): a key that is still
	// read but has moved.
	ErrDeprecated = errors.New("config: deprecated key")
)

// KeyError is one problem with one key. Load and Validate join several of
// them with errors.Join, so use errors.As to reach them one by one.
type KeyError struct {
	// Source says where the value came from: a file name, "env NAME", or ""
	// (a default, or a value given to Set).
	Source string
	// Line is the line in Source, or 0.
	Line int
	// Key is the dotted key path, e.g. "listeners.tcp.0.address".
	Key string
	// Msg describes the problem.
	Msg string
	// Err is ErrSyntax, ErrUnknownKey, ErrBadValue, ErrInvalid or, for a
	// warning, ErrDeprecated.
	Err error
}

// Error formats the problem as `config iothub.yaml:12: mqtt.max_inflight: msg`
// or, for an unknown key, `config iothub.yaml:12: unknown key "mqtt.max_inflght"`.
func (e *KeyError) Error() string {
	s := "config"
	if e.Source != "" {
		s += " " + e.Source
		if e.Line > 0 {
			s += ":" + strconv.Itoa(e.Line)
		}
	}
	switch {
	case errors.Is(e.Err, ErrUnknownKey):
		s += ": unknown key " + strconv.Quote(e.Key)
		if e.Msg != "" {
			s += " (" + e.Msg + ")"
		}
		return s
	case e.Key == "":
		return s + ": " + e.Msg
	}
	return s + ": " + e.Key + ": " + e.Msg
}

// Unwrap returns the sentinel.
func (e *KeyError) Unwrap() error { return e.Err }

// errorList accumulates KeyErrors.
type errorList []*KeyError

func (l *errorList) add(sentinel error, key, format string, args ...any) {
	*l = append(*l, &KeyError{Key: key, Msg: fmt.Sprintf(format, args...), Err: sentinel})
}

// join returns the errors joined, or nil.
func (l errorList) join() error {
	if len(l) == 0 {
		return nil
	}
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errors.Join(errs...)
}
