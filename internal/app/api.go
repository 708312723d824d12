package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/auth/users"
	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/internal/api"
	"github.com/iothub-dev/iothub/internal/listener"
)

// bridgeCounters sums the bridges' counters for the dashboard's history:
// records sent and failed by producers, messages received by consumers.
func (a *App) bridgeCounters() map[string]uint64 {
	out := map[string]uint64{"bridge_sent": 0, "bridge_failed": 0, "bridge_received": 0}
	m := a.bridges.mgr
	if m == nil {
		return out
	}
	for _, in := range m.List() {
		switch mt, _ := m.Metrics(in.Name); v := mt.(type) {
		case bridge.Metrics:
			out["bridge_sent"] += v.Sent
			out["bridge_failed"] += v.Failed
		case bridge.SourceMetrics:
			out["bridge_received"] += v.Published
		}
	}
	return out
}

// startHistory samples the hub's counters for the dashboard's charts
// until Shutdown.
func (a *App) startHistory() {
	ctx, cancel := context.WithCancel(context.Background())
	a.api.stopHist = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.api.api.RunHistory(ctx, api.HistoryInterval)
	}()
}

// apiState is the HTTP API's part of the App (docs/http-api.md).
type apiState struct {
	api       *api.API
	keys      *api.KeyStore
	operators *users.Store // dashboard users; nil when api.dashboard is off (dashboard.go)
	ready     atomic.Bool  // listeners up, not stopping (GET /ready)
	stopHist  context.CancelFunc
	// limits is the API port's listener with its connection bounds; nil
	// until startHTTP.
	limits *listener.Limited
}

// setupAPI opens the key store and registers the API's routes on a.mux.
// Nothing is written yet: the first key is created by Start
// (ensureAPIKey).
func (a *App) setupAPI() error {
	keys, err := api.OpenKeyStore(filepath.Join(a.cfg.DataDir, api.KeyFile))
	if err != nil {
		return fmt.Errorf("api keys: %w", err)
	}
	keys.SetBootstrap(string(a.cfg.API.Key))
	a.api.keys = keys
	ops, err := a.setupDashboard() // dashboard.go
	if err != nil {
		return err
	}
	c := a.cfg.API
	a.api.api = api.New(api.Options{
		Broker:             clusterBroker{a.broker, a}, // cluster_api.go
		Keys:               keys,
		Logger:             a.log,
		MaxBodyBytes:       int64(c.MaxBodyBytes),
		CommandTopic:       c.CommandTopic,
		RPCResponseTopic:   c.RPCResponseTopic,
		CommandTimeout:     c.CommandTimeout.D(),
		MaxCommandTimeout:  c.MaxCommandTimeout.D(),
		Version:            Version,
		Ready:              a.api.ready.Load,
		Rules:              a.ruleManager,
		Schemas:            a.schemaManager,
		Bans:               func() api.BanManager { return a.Bans() },
		Users:              a.userManager,
		HubTopic:           a.broker.ReservedTopicHandled,
		Shadows:            a.shadowManager,
		Devices:            a.registryManager,
		Jobs:               a.jobManager,
		Firmware:           a.firmware,
		Bridges:            a.bridgeManager,
		LogLevel:           func() *slog.LevelVar { return a.level },
		Cluster:            a.clusterStatus, // cluster.go
		MaxImportBytes:     int64(a.cfg.Devices.MaxImportBytes),
		KeyAdmin:           keys,
		ACL:                func() auth.Authorizer { return a.sec.Load().authz },
		Operators:          ops,
		SessionIdleTimeout: c.SessionIdleTimeout.D(),
		Counters:           a.bridgeCounters,
		Upstream:           a.upstreamReporter,
		Relay:              commandRelay{a},
	})
	a.api.api.Register(a.mux.ServeMux)
	if a.metrics != nil {
		// What the live message streams skipped because a browser was slower
		// than the traffic (docs/dashboard.md).
		if err := a.metrics.Registerer().Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "iothub_api_stream_dropped_messages_total",
			Help: "Messages a live message stream (GET /api/v1/messages/stream) skipped because its reader was slower than the traffic.",
		}, func() float64 { return float64(a.api.api.LiveDropped()) })); err != nil {
			return fmt.Errorf("api metrics: %w", err)
		}
	}
	return nil
}

// ruleManager is the rule runner for the API; nil until setupRules ran.
func (a *App) ruleManager() api.RuleManager {
	if a.rules == nil {
		return nil
	}
	return a.rules
}

// schemaManager is the schema registry for the API; nil until setupRules
// ran.
func (a *App) schemaManager() api.SchemaManager {
	if a.schemas == nil {
		return nil
	}
	return a.schemas
}

// userManager is the user store in force (a reload may swap it); nil when
// "users" is not in auth.chain.
func (a *App) userManager() api.UserManager {
	if u := a.Users(); u != nil {
		return u
	}
	return nil
}

// httpHandler is a.mux behind the API key check: every path under
// /api/v1/ (whoever registered it) and /metrics when
// metrics.require_api_key is set need a key; /health, /ready and an open
// /metrics do not.
func (a *App) httpHandler() http.Handler {
	return a.api.api.RequireKey(a.mux, a.cfg.Metrics.RequireAPIKey)
}

// ensureAPIKey creates the first API key when the key file does not exist
// and no bootstrap key is configured, and prints it once, at WARN: only
// its hash is stored.
func (a *App) ensureAPIKey() error {
	k := a.api.keys
	if k.Exists() || a.cfg.API.Key != "" {
		if len(k.List()) == 0 && a.cfg.API.Key == "" {
			a.log.Warn("the HTTP API has no key: every /api/v1 request is refused; create one with `iothub apikey create`", "file", k.Path())
		}
		return nil
	}
	key, info, err := k.Create("initial")
	if err != nil {
		return fmt.Errorf("creating the first API key: %w", err)
	}
	a.log.Warn("created the first HTTP API key; it is shown only this once, store it now (send it as Authorization: Bearer <key>; manage keys with `iothub apikey`)",
		"api_key", key, "id", info.ID, "file", k.Path())
	return nil
}

// serveHTTP serves srv on ln, over TLS when api.tls_cert_file is set.
func (a *App) serveHTTP(srv *http.Server, ln net.Listener) error {
	if c := a.cfg.API; c.TLSCertFile != "" {
		return srv.ServeTLS(ln, c.TLSCertFile, c.TLSKeyFile)
	}
	return srv.Serve(ln)
}
