package app

import (
	"log/slog"

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

// observabilityRoutes registers GET /metrics (the trace and log-level
// endpoints are the API's: internal/api/observe.go).
func (a *App) observabilityRoutes() {
	if a.metrics == nil {
		return
	}
	if err := a.metrics.AddBroker(a.broker); err != nil {
		a.log.Error("cannot register broker metrics", "error", err)
	}
	// With metrics.require_api_key, httpHandler (api.go) puts the API key
	// check in front of this route.
	a.mux.Handle("GET /metrics", a.metrics.Handler())
}
