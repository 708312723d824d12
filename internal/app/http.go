package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/iothub-dev/iothub/internal/listener"
)

// startHTTP opens the HTTP listener (config key api.address) serving a.mux:
// the HTTP API under /api/v1, /health, /ready and /metrics are registered on
// that mux by their packages' wiring in this package.
func (a *App) startHTTP() error {
	if a.cfg.API.Address == "" {
		return nil
	}
	if err := a.ensureAPIKey(); err != nil {
		return err
	}
	if err := a.ensureOperator(); err != nil { // dashboard.go
		return err
	}
	inner, err := net.Listen("tcp", a.cfg.API.Address)
	if err != nil {
		return fmt.Errorf("api listener: %w", err)
	}
	c := a.cfg.API
	// The limits hold for everything served on this port (API, metrics,
	// dashboard): a client that never finishes its request is cut off by
	// the read timeouts, and none can hold more than its share of
	// connections (docs/http-api.md#limits).
	ln := listener.Limit(inner, listener.LimitOptions{Name: "api", Max: c.MaxConnections,
		PerAddress: c.MaxConnectionsPerAddress, Logger: a.log})
	a.api.limits = ln
	if a.metrics != nil {
		if err := a.metrics.AddHTTPListener("api", ln); err != nil {
			a.log.Error("cannot register api listener metrics", "error", err)
		}
	}
	srv := &http.Server{
		Handler:           a.httpHandler(),
		ReadHeaderTimeout: c.ReadHeaderTimeout.D(),
		ReadTimeout:       c.ReadTimeout.D(),
		IdleTimeout:       c.IdleTimeout.D(),
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	a.runListener(func() error {
		if err := a.serveHTTP(srv, ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("api listener: %w", err)
		}
		return nil
	}, srv)
	a.startHistory()
	a.log.Info("listening", "listener", "api", "protocol", "http", "address", ln.Addr().String(), "tls", a.cfg.API.TLSCertFile != "")
	return nil
}
