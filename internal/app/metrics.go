package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/metrics"
)

// newMetrics returns the hub's metrics when metrics.enabled is set, else nil.
func newMetrics(cfg config.Config) *metrics.Metrics {
	if !cfg.Metrics.Enabled {
		return nil
	}
	return metrics.New()
}

// brokerMetrics returns m as the broker's hook: a nil interface (not a nil
// pointer in an interface) when metrics are off, so the broker skips them.
func brokerMetrics(m *metrics.Metrics) broker.Metrics {
	if m == nil {
		return nil
	}
	return m
}

// UseLevelVar gives the App the level of its logger, so that
// PUT /api/v1/log/level can change it while the hub runs. Call it before
// Start.
func (a *App) UseLevelVar(lv *slog.LevelVar) { a.level = lv }

// observabilityRoutes registers GET /metrics, the per-client trace and the
// run-time log level.
func (a *App) observabilityRoutes() {
	if a.metrics != nil {
		if err := a.metrics.AddBroker(a.broker); err != nil {
			a.log.Error("cannot register broker metrics", "error", err)
		}
		// With metrics.require_api_key, httpHandler (api.go) puts the
		// API key check in front of this route.
		a.mux.Handle("GET /metrics", a.metrics.Handler())
	}
	a.mux.HandleFunc("GET /api/v1/trace", a.listTraces)
	a.mux.HandleFunc("POST /api/v1/trace/{clientid}", a.setTrace(true))
	a.mux.HandleFunc("DELETE /api/v1/trace/{clientid}", a.setTrace(false))
	a.mux.HandleFunc("GET /api/v1/log/level", a.getLogLevel)
	a.mux.HandleFunc("PUT /api/v1/log/level", a.putLogLevel)
}

func (a *App) listTraces(w http.ResponseWriter, _ *http.Request) {
	obsJSON(w, http.StatusOK, map[string]any{"clients": a.broker.TracedClients()})
}

// setTrace turns the trace of the client in the path on or off.
func (a *App) setTrace(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("clientid")
		if id == "" {
			obsJSON(w, http.StatusBadRequest, map[string]string{"code": "bad_request", "message": "client id is empty"})
			return
		}
		a.broker.TraceClient(id, on)
		a.log.Info("client trace", "client_id", id, "on", on)
		obsJSON(w, http.StatusOK, map[string]any{"client_id": id, "trace": on})
	}
}

func (a *App) getLogLevel(w http.ResponseWriter, _ *http.Request) {
	if a.level == nil {
		obsJSON(w, http.StatusServiceUnavailable, map[string]string{"code": "unavailable", "message": "the log level is fixed in this process"})
		return
	}
	obsJSON(w, http.StatusOK, map[string]string{"level": levelName(a.level.Level())})
}

// putLogLevel sets the log level from {"level":"debug"}.
func (a *App) putLogLevel(w http.ResponseWriter, r *http.Request) {
	if a.level == nil {
		obsJSON(w, http.StatusServiceUnavailable, map[string]string{"code": "unavailable", "message": "the log level is fixed in this process"})
		return
	}
	level, err := decodeLevel(r.Body)
	if err != nil {
		obsJSON(w, http.StatusBadRequest, map[string]string{"code": "bad_request", "message": err.Error()})
		return
	}
	old := a.level.Level()
	a.level.Set(level)
	a.log.Warn("log level changed", "from", levelName(old), "to", levelName(level))
	obsJSON(w, http.StatusOK, map[string]string{"level": levelName(level)})
}

// errBadLevel is returned for a level other than debug, info, warn, error.
var errBadLevel = errors.New("level must be debug, info, warn or error")

func decodeLevel(body io.Reader) (slog.Level, error) {
	var req struct {
		Level string `json:"level"`
	}
	dec := json.NewDecoder(io.LimitReader(body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return 0, fmt.Errorf("body must be {\"level\":\"debug|info|warn|error\"}: %w", err)
	}
	switch strings.ToLower(req.Level) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q: %w", req.Level, errBadLevel)
}

func levelName(l slog.Level) string { return strings.ToLower(l.String()) }

// obsJSON writes v as the JSON response with status.
func obsJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
