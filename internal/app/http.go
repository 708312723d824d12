package app

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
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
	ln, err := net.Listen("tcp", a.cfg.API.Address)
	if err != nil {
		return fmt.Errorf("api listener: %w", err)
	}
	srv := &http.Server{
		Handler:           a.httpHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	a.mu.Lock()
	a.listeners = append(a.listeners, srv)
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.serveHTTP(srv, ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.errc <- fmt.Errorf("api listener: %w", err)
		}
	}()
	a.startHistory()
	a.log.Info("listening", "listener", "api", "protocol", "http", "address", ln.Addr().String(), "tls", a.cfg.API.TLSCertFile != "")
	return nil
}
