package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// Tracer turns the per-client trace on and off (docs/observability.md,
// "Tracing one client"); *broker.Server implements it.
type Tracer interface {
	// TraceClient logs every packet of the client at INFO while on.
	TraceClient(clientID string, on bool)
	// TracedClients returns the client ids being traced, sorted.
	TracedClients() []string
}

// observeRoutes are the endpoints of the per-client trace and the run-time
// log level.
func (a *API) observeRoutes() []route {
	return []route{
		{"GET /api/v1/trace", a.listTraces},
		{"POST /api/v1/trace/{clientid}", a.setTrace(true)},
		{"DELETE /api/v1/trace/{clientid}", a.setTrace(false)},
		{"GET /api/v1/log/level", a.getLogLevel},
		{"PUT /api/v1/log/level", a.putLogLevel},
	}
}

func (a *API) listTraces(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"clients": a.o.Broker.TracedClients()})
	return nil
}

// setTrace turns the trace of the client in the path on or off.
func (a *API) setTrace(on bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("clientid")
		if id == "" {
			return errorf(http.StatusBadRequest, CodeBadRequest, "client id is empty")
		}
		a.o.Broker.TraceClient(id, on)
		a.log.Info("client trace", "client_id", id, "on", on)
		writeJSON(w, http.StatusOK, map[string]any{"client_id": id, "trace": on})
		return nil
	}
}

// logLevel returns the logger's level variable, or a 503 when the level is
// fixed in this process.
func (a *API) logLevel() (*slog.LevelVar, error) {
	var lv *slog.LevelVar
	if a.o.LogLevel != nil {
		lv = a.o.LogLevel()
	}
	if lv == nil {
		return nil, errorf(http.StatusServiceUnavailable, CodeUnavailable, "the log level is fixed in this process")
	}
	return lv, nil
}

func (a *API) getLogLevel(w http.ResponseWriter, _ *http.Request) error {
	lv, err := a.logLevel()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"level": levelName(lv.Level())})
	return nil
}

// putLogLevel sets the log level from {"level":"debug"}.
func (a *API) putLogLevel(w http.ResponseWriter, r *http.Request) error {
	lv, err := a.logLevel()
	if err != nil {
		return err
	}
	var req struct {
		Level string `json:"level"`
	}
	if err := decodeBody(r.Body, &req); err != nil {
		return err
	}
	level, err := parseLevel(req.Level)
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "level", Message: err.Error()}
	}
	old := lv.Level()
	lv.Set(level)
	a.log.Warn("log level changed", "from", levelName(old), "to", levelName(level))
	writeJSON(w, http.StatusOK, map[string]string{"level": levelName(level)})
	return nil
}

// errBadLevel is returned for a level other than debug, info, warn, error.
var errBadLevel = errors.New("level must be debug, info, warn or error")

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("level: %q: %w", s, errBadLevel)
}

func levelName(l slog.Level) string { return strings.ToLower(l.String()) }
