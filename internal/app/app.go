// Package app wires iothub together: configuration → broker and listeners,
// start and stop order, and the command line behind cmd/iothub.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/broker"
)

// App is one running hub: the broker and its listeners.
type App struct {
	cfg    config.Config
	log    *slog.Logger
	broker *broker.Server

	mux *http.ServeMux // the HTTP API listener's routes

	mu        sync.Mutex
	listeners []io.Closer
	wg        sync.WaitGroup
	errc      chan error
}

// New builds the hub from cfg without opening any port.
func New(cfg config.Config, log *slog.Logger) (*App, error) {
	b, err := broker.New(brokerOptions(cfg, log))
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	a := &App{cfg: cfg, log: log, broker: b, mux: http.NewServeMux(), errc: make(chan error, 16)}
	a.routes()
	return a, nil
}

// Broker returns the hub's broker.
func (a *App) Broker() *broker.Server { return a.broker }

// Start opens every configured listener; it fails, closing what it opened,
// when one cannot be opened (a port in use, say).
func (a *App) Start() error {
	if a.cfg.MQTT.AllowAnonymous {
		a.log.Warn("anonymous access: every client is allowed to connect, publish and subscribe; configure authentication before exposing this hub")
	}
	for _, l := range a.cfg.Listeners.TCP {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			a.closeListeners()
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		a.serve(ln, l.Name)
		a.log.Info("listening", "listener", l.Name, "protocol", "mqtt", "address", ln.Addr().String())
	}
	if err := a.startWebSocket(); err != nil {
		a.closeListeners()
		return err
	}
	if err := a.startHTTP(); err != nil {
		a.closeListeners()
		return err
	}
	return nil
}

func (a *App) serve(ln net.Listener, name string) {
	a.mu.Lock()
	a.listeners = append(a.listeners, ln)
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.broker.Serve(ln, name); err != nil && !errors.Is(err, broker.ErrServerClosed) {
			a.errc <- err
		}
	}()
}

func (a *App) closeListeners() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ln := range a.listeners {
		_ = ln.Close()
	}
}

// Errors delivers fatal listener errors.
func (a *App) Errors() <-chan error { return a.errc }

// Shutdown stops the listeners and the broker (v5 clients get DISCONNECT
// 0x8B), bounded by ctx.
func (a *App) Shutdown(ctx context.Context) error {
	err := a.broker.Shutdown(ctx)
	a.closeListeners()
	a.wg.Wait()
	return err
}

// brokerOptions maps the config's mqtt section to broker options.
func brokerOptions(cfg config.Config, log *slog.Logger) broker.Options {
	m := cfg.MQTT
	return broker.Options{
		NodeName:                  cfg.Node.Name,
		MaxConnections:            m.MaxConnections,
		MaxPacketSize:             m.MaxPacketSize,
		MaxInflight:               m.MaxInflight,
		MaxQueuedMessages:         m.MaxQueuedMessages,
		QueueFullPolicy:           broker.QueueFullPolicy(m.QueueFullPolicy),
		MaxPendingWrites:          m.MaxPendingWrites,
		MaxTopicLevels:            m.MaxTopicLevels,
		MaxTopicLength:            m.MaxTopicLength,
		MaxSubscriptionsPerClient: m.MaxSubscriptionsPerClient,
		ConnectTimeout:            m.ConnectTimeout.D(),
		MaxKeepAlive:              m.MaxKeepAlive.D(),
		MaxSessionExpiry:          m.MaxSessionExpiry.D(),
		TopicAliasMaximum:         m.TopicAliasMaximum,
		SharedStrategy:            broker.SharedStrategy(m.SharedSubscriptionStrategy),
		WriteTimeout:              m.WriteTimeout.D(),
		SysInterval:               m.SysInterval.D(),
		RetainAvailable:           m.RetainAvailable,
		MaxRetained:               m.MaxRetained,
		EventBuffer:               m.EventBuffer,
		Logger:                    log,
	}
}
