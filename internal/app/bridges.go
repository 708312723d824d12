package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/api"
	"github.com/iothub-dev/iothub/internal/bridgemgr"
	"github.com/iothub-dev/iothub/internal/rule"
)

// bridgeState is the hub's bridges (docs/bridges.md) and the rule action
// registry that knows the "bridge" action type.
type bridgeState struct {
	mgr      *bridgemgr.Manager
	registry *rule.Registry
}

// setupBridges builds the bridge manager and the rule action registry
// (built-ins + "bridge"); call it before setupRules.
func (a *App) setupBridges() error {
	var request func()
	a.bridges.mgr = bridgemgr.New(bridgemgr.Options{DataDir: a.cfg.DataDir, Publisher: a.broker, Logger: a.log,
		Node: a.cfg.Node.Name, RequestSync: func() { request() }})
	// The bridges' durable queues are committed with the store, before the
	// PUBACKs of the messages their records came from (broker.Syncer).
	request, _ = a.broker.AddSyncer(a.bridges.mgr)
	if err := a.bridges.mgr.Declare(a.cfg.Bridges); err != nil { // rules may name only these (or later API bridges)
		return err
	}
	a.bridges.registry = rule.NewRegistry()
	if a.metrics != nil {
		if err := a.metrics.AddBridges(a.bridges.mgr); err != nil { // per-bridge metrics at scrape time
			return fmt.Errorf("bridge metrics: %w", err)
		}
	}
	return a.bridges.mgr.Register(a.bridges.registry)
}

// startBridges starts the bridges of the file and of data_dir/bridges.json.
// An unreachable Kafka does not fail it (it shows in the bridge status); a
// bad definition (an unknown template field) does, naming the key.
func (a *App) startBridges() error {
	if err := a.bridges.mgr.Start(a.cfg.Bridges); err != nil {
		return fmt.Errorf("config %w", err)
	}
	return nil
}

// stopBridges stops the bridges after the rules drained their queues;
// records still in memory go to the bridges' disk queues.
func (a *App) stopBridges(ctx context.Context) error {
	return a.bridges.mgr.Close(ctx)
}

// Bridges returns the bridge manager: the management API for the HTTP
// layer (Create, Update, Delete, Get, List, Enable, Disable, Status,
// Metrics).
func (a *App) Bridges() *bridgemgr.Manager { return a.bridges.mgr }

// bridgeAPI is the bridge manager as the HTTP API sees it: definitions
// arrive as JSON and answers leave as values to encode.
type bridgeAPI struct {
	m   *bridgemgr.Manager
	log *slog.Logger
}

func (b bridgeAPI) List() any                    { return b.m.List() }
func (b bridgeAPI) Get(name string) (any, error) { return b.m.Get(name) }
func (b bridgeAPI) Delete(name string) error     { return b.m.Delete(name) }
func (b bridgeAPI) Enable(name string) (any, error) {
	return b.m.Enable(name)
}
func (b bridgeAPI) Disable(name string) (any, error) { return b.m.Disable(name) }
func (b bridgeAPI) Metrics(name string) (any, error) { return b.m.Metrics(name) }
func (b bridgeAPI) Status(name string) (bridge.Status, error) {
	return b.m.Status(name)
}

func (b bridgeAPI) Create(def json.RawMessage) (any, error) {
	d, err := b.decode(def, "")
	if err != nil {
		return nil, err
	}
	return b.m.Create(d)
}

func (b bridgeAPI) Update(name string, def json.RawMessage) (any, error) {
	d, err := b.decode(def, name)
	if err != nil {
		return nil, err
	}
	return b.m.Update(d)
}

// decode decodes a definition, logging the deprecated keys it used.
func (b bridgeAPI) decode(def json.RawMessage, name string) (config.Bridge, error) {
	d, warns, err := bridgemgr.DecodeDefinition(def, name)
	for _, w := range warns {
		b.log.Warn("bridge definition uses a deprecated key", "bridge", d.Name, "warning", w)
	}
	return d, err
}

// bridgeManager is the bridge manager for the API; nil until setupBridges
// ran.
func (a *App) bridgeManager() api.BridgeManager {
	if a.bridges.mgr == nil {
		return nil
	}
	return bridgeAPI{a.bridges.mgr, a.log}
}

var _ api.BridgeManager = bridgeAPI{}
