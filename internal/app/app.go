package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/cluster"
	"github.com/iothub-dev/iothub/internal/listener"
	"github.com/iothub-dev/iothub/internal/metrics"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/internal/schema"
	"github.com/iothub-dev/iothub/storage"
)

// App is one running hub: the broker, its listeners and every component
// around it (store, devices, bridges, rules, HTTP API).
type App struct {
	cfg    config.Config
	log    *slog.Logger
	broker *broker.Server

	mux *routeMux // the HTTP API listener's routes (mux.go)

	metrics *metrics.Metrics // nil when metrics.enabled is false (metrics.go)
	level   *slog.LevelVar   // the logger's level, changed by the API (metrics.go)

	rt runtimeState // what SIGHUP can change (reload.go)

	api apiState // the HTTP API, its keys and readiness (api.go)

	rules   *rule.Runner     // the rule engine (rules.go)
	schemas *schema.Registry // protobuf schemas of the rules (schemas.go)

	bridges bridgeState // the bridge manager: Kafka, Redis, webhook, PostgreSQL, MQTT (bridges.go)

	sec atomic.Pointer[security] // authentication, ACL, bans (auth.go)

	store storage.Store // the embedded store; nil when disabled (storage.go)

	devices deviceState   // registry, shadows, jobs (devices.go)
	cluster *cluster.Node // nil on a single node (cluster.go)

	up upstreamState // edge link, centre dedup and command relay (upstream.go)

	mu        sync.Mutex
	listeners []io.Closer
	wg        sync.WaitGroup
	errc      chan error
}

// New builds the hub from cfg without opening any port.
func New(cfg config.Config, log *slog.Logger) (*App, error) {
	m := newMetrics(cfg)
	opts := brokerOptions(cfg, log)
	opts.Metrics = brokerMetrics(m)
	bans, err := newBanList(cfg) // auth.go
	if err != nil {
		return nil, err
	}
	devAuthn := &deviceAuthn{}
	sec, err := newSecurity(cfg, bans, devAuthn)
	if err != nil {
		return nil, err
	}
	sec.apply(&opts, cfg)
	b, err := broker.New(opts)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	a := &App{cfg: cfg, log: log, broker: b, mux: newRouteMux(), metrics: m, errc: make(chan error, 16)}
	a.devices.authn = devAuthn
	a.sec.Store(sec)
	a.routes()
	if err := a.setupAPI(); err != nil {
		return nil, err
	}
	if err := a.setupBridges(); err != nil {
		return nil, err
	}
	if err := a.setupUpstream(); err != nil { // upstream.go
		return nil, err
	}
	if err := a.setupRules(); err != nil {
		return nil, err
	}
	return a, nil
}

// Broker returns the hub's broker.
func (a *App) Broker() *broker.Server { return a.broker }

// Start opens every configured listener; it fails, closing what it opened,
// when one cannot be opened (a port in use, say).
func (a *App) Start() error {
	a.warnAnonymous() // auth.go
	// The store is loaded before anything can publish (storage.go).
	if err := a.startStore(); err != nil {
		return err
	}
	if err := a.startDevices(); err != nil {
		return err
	}
	if err := a.startCluster(); err != nil { // cluster.go
		return err
	}
	if err := a.startBridges(); err != nil {
		return err
	}
	if err := a.startUpstream(); err != nil {
		return err
	}
	if err := a.startRules(); err != nil {
		return err
	}
	for _, l := range a.cfg.Listeners.TCP {
		ln, err := listenMQTT(l.Address, l.ProxyProtocol)
		if err != nil {
			a.closeListeners()
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		a.serve(listener.Wrap(ln, listener.AcceptOptions{Name: l.Name, ProxyProtocol: l.ProxyProtocol, Logger: a.log}),
			broker.ListenerOptions{Name: l.Name, MaxConnections: l.MaxConnections, MaxPacketSize: l.MaxPacketSize})
		a.log.Info("listening", "listener", l.Name, "protocol", "mqtt", "address", ln.Addr().String(), "proxy_protocol", l.ProxyProtocol)
	}
	if err := a.startWebSocket(); err != nil {
		a.closeListeners()
		return err
	}
	if err := a.startTLS(); err != nil {
		a.closeListeners()
		return err
	}
	// Ready before the API listens: everything else is up, and a client
	// that reaches /ready as soon as the API logs its address gets 200.
	a.api.ready.Store(true)
	if err := a.startHTTP(); err != nil {
		a.api.ready.Store(false)
		a.closeListeners()
		return err
	}
	return nil
}

func (a *App) serve(ln net.Listener, lo broker.ListenerOptions) {
	a.runListener(func() error {
		if err := a.broker.ServeListener(ln, lo); !errors.Is(err, broker.ErrServerClosed) {
			return err
		}
		return nil
	}, ln)
}

// runListener keeps closers for closeListeners and runs serve on a
// goroutine of a.wg until the listener closes; an error serve returns is
// fatal (Errors).
func (a *App) runListener(serve func() error, closers ...io.Closer) {
	a.mu.Lock()
	a.listeners = append(a.listeners, closers...)
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := serve(); err != nil {
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
	a.api.ready.Store(false)
	if a.api.stopHist != nil {
		a.api.stopHist()
	}
	err := a.broker.Shutdown(ctx)
	a.closeListeners()
	a.wg.Wait()
	a.stopCluster()
	a.sec.Load().close()
	return errors.Join(err, a.stopRules(ctx), a.stopBridges(ctx), a.stopUpstream(ctx), a.stopDevices(ctx), a.closeStore())
}

// brokerOptions maps the config's mqtt section to broker options.
func brokerOptions(cfg config.Config, log *slog.Logger) broker.Options {
	m := cfg.MQTT
	return broker.Options{
		NodeName:                  cfg.Node.Name,
		MaxConnections:            maxConnections(m.MaxConnections),
		MaxPacketSize:             m.MaxPacketSize,
		MaxInflight:               m.MaxInflight,
		MaxQueuedMessages:         m.MaxQueuedMessages,
		QueueFullPolicy:           broker.QueueFullPolicy(m.QueueFullPolicy),
		MaxPendingWrites:          m.MaxPendingWrites,
		MaxQueuedBytes:            zeroMeansNone(int64(m.MaxQueuedBytes)),
		MaxBacklogBytes:           zeroMeansNone(int64(m.MaxBacklogBytes)),
		MaxPendingWriteBytes:      zeroMeansNone(int64(m.MaxPendingWriteBytes)),
		MaxBufferedBytes:          int64(m.MaxBufferedBytes),
		MaxConnectingBytes:        int64(m.MaxConnectingBytes),
		BackpressureTimeout:       zeroMeansNone(m.BackpressureTimeout.D()),
		BackpressureQueue:         m.BackpressureQueue,
		MaxTopicLevels:            m.MaxTopicLevels,
		MaxTopicLength:            m.MaxTopicLength,
		MaxSubscriptionsPerClient: m.MaxSubscriptionsPerClient,
		ConnectTimeout:            m.ConnectTimeout.D(),
		MaxKeepAlive:              m.MaxKeepAlive.D(),
		MaxSessionExpiry:          m.MaxSessionExpiry.D(),
		TopicAliasMaximum:         m.TopicAliasMaximum,
		SharedStrategy:            broker.SharedStrategy(m.SharedSubscriptionStrategy),
		WriteTimeout:              m.WriteTimeout.D(),
		WriteCoalesce:             m.WriteCoalesce.D(),
		ParkIdleAfter:             parkIdleAfter(m.ParkIdleAfter.D()),
		KeepParkedSockets:         !m.ReleaseParkedSockets,
		SysInterval:               m.SysInterval.D(),
		ExpirySweepInterval:       m.ExpirySweepInterval.D(),
		RetainAvailable:           m.RetainAvailable,
		MaxRetained:               m.MaxRetained,
		EventBuffer:               m.EventBuffer,
		EventBlockTimeout:         m.EventBlockTimeout.D(),
		Durability:                broker.Durability(cfg.Storage.Durability),
		Logger:                    log,
	}
}

// zeroMeansNone maps the config's 0 ("none") to the broker's negative
// value (its zero means "the default").
func zeroMeansNone[T int64 | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// parkIdleAfter maps the config's 0 ("never park") to the broker's
// negative value (its zero means "the default").
func parkIdleAfter(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
