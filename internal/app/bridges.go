package app

import (
	"context"
	"fmt"

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
	a.bridges.mgr = bridgemgr.New(bridgemgr.Options{DataDir: a.cfg.DataDir, Publisher: a.broker, Logger: a.log,
		Node: a.cfg.Node.Name})
	a.bridges.registry = rule.NewRegistry()
	if a.metrics != nil {
		if err := a.metrics.AddBridges(a.bridges.mgr); err != nil { // per-bridge metrics at scrape time
			return fmt.Errorf("bridge metrics: %w", err)
		}
	}
	a.bridgeRoutes() // bridges_http.go
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
