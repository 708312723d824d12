package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Error is the one error type of the API: handlers return it (or any
// error, rendered as a 500) and writeError renders it as
// {"code": "...", "message": "...", "field": "..."} with Status.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is one of the stable codes of codes.go.
	Code string
	// Message is for humans.
	Message string
	// Field names the bad request field or query parameter, if any.
	Field string
	// Err is the underlying error, logged but not sent.
	Err error
}

// Error returns the message and the underlying error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// errorf returns an *Error with a formatted message.
func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// badField returns a 400 invalid_field error naming field.
func badField(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: field,
		Message: field + ": " + fmt.Sprintf(format, args...)}
}

// errorBody is the JSON shape of an error response.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError renders err: an *Error as itself, anything else as a 500
// whose details go to the log only.
func writeError(w http.ResponseWriter, log *slog.Logger, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", Err: err}
	}
	if e.Code == CodeInternal {
		log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "code", e.Code, "error", err)
	} else {
		log.Debug("api request refused", "method", r.Method, "path", r.URL.Path, "code", e.Code, "message", e.Message)
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="iothub"`)
	}
	writeJSON(w, e.Status, errorBody{Code: e.Code, Message: e.Message, Field: e.Field})
}

// writeJSON writes v as the JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
