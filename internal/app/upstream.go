package app

import (
	"context"
	"fmt"
	"time"

	"github.com/iothub-dev/iothub/internal/api"
	"github.com/iothub-dev/iothub/internal/upstream"
	"github.com/iothub-dev/iothub/msg"
)

// upstreamState is this hub as an edge (the upstream link) and as the
// centre of edges (dedup of their resends, command relay): docs/edge.md.
type upstreamState struct {
	actions    upstream.ActionRegistrar
	edge       *upstream.Edge // nil without upstream.url
	dedup      *upstream.Dedup
	relay      *upstream.Relay // nil when edges.command_relay is off
	stopDedup  func()
	stopRelay  func()
	stopFwd    func()
	stopSyncer func()
}

// setupUpstream registers the {type: upstream} rule action and builds the
// edge (its queues open, nothing connected); call it after setupBridges
// and before setupRules. A bad upstream section stops the hub, naming
// the key.
func (a *App) setupUpstream() error {
	if err := a.up.actions.Register(a.bridges.registry); err != nil {
		return err
	}
	if a.metrics != nil {
		if err := a.metrics.AddUpstream(a); err != nil {
			return fmt.Errorf("upstream metrics: %w", err)
		}
	}
	if !a.cfg.Upstream.Enabled() {
		return nil
	}
	var request func()
	e, err := upstream.NewEdge(upstream.EdgeOptions{Config: a.cfg.Upstream, Node: a.cfg.Node.Name,
		DataDir: a.cfg.DataDir, Broker: a.broker, Logger: a.log, RequestSync: func() { request() }})
	if err != nil {
		return fmt.Errorf("config %w", err)
	}
	// Queued records are written in the broker's group commit, before
	// the PUBACKs of the messages they came from.
	request, a.up.stopSyncer = a.broker.AddSyncer(e)
	a.up.edge = e
	a.up.actions.SetEdge(e)
	return nil
}

// startUpstream starts the centre's services and the edge link; call it
// after the store is loaded and the bridges started, before the
// listeners open.
func (a *App) startUpstream() error {
	d, err := upstream.OpenDedup(a.store, a.cfg.DataDir, a.cfg.Edges.DedupOrigins, a.log)
	if err != nil {
		return err
	}
	a.up.dedup = d
	request, remove := a.broker.AddLateSyncer(d) // after the queues the routed messages went to
	d.SetRequestSync(request)
	a.up.stopDedup = remove
	a.broker.SetDeduplicator(d)
	if a.cfg.Edges.CommandRelay {
		a.up.relay = upstream.NewRelay(a.broker, a.cfg.Node.Name)
		a.up.stopRelay = a.broker.HandleTopics(upstream.ReplyPrefix, a.up.relay)
	}
	if e := a.up.edge; e != nil {
		a.up.stopFwd = a.broker.AddEventHandler(e.Forwarder())
		e.Start()
	}
	return nil
}

// stopUpstream closes the link (queues stay on disk) and the dedup file;
// call it after the broker's Shutdown.
func (a *App) stopUpstream(ctx context.Context) error {
	var err error
	if a.up.edge != nil {
		err = a.up.edge.Close(ctx)
	}
	if a.up.dedup != nil {
		if derr := a.up.dedup.Close(); derr != nil && err == nil {
			err = derr
		}
	}
	return err
}

// UpstreamStatus implements api.UpstreamReporter.
func (a *App) UpstreamStatus() any {
	return upstream.Status{Edge: a.EdgeStatus(), Centre: a.CentreStatus()}
}

// EdgeStatus returns the edge link's status (nil without upstream).
func (a *App) EdgeStatus() *upstream.EdgeStatus {
	if a.up.edge == nil {
		return nil
	}
	es := a.up.edge.Status()
	return &es
}

// CentreStatus returns the centre's edge counters.
func (a *App) CentreStatus() upstream.CentreStatus {
	var s upstream.CentreStatus
	if a.up.dedup != nil {
		s.Dedup = a.up.dedup.Stats()
	}
	if a.up.relay != nil {
		rs := a.up.relay.Stats()
		s.Relay = &rs
	}
	return s
}

// upstreamReporter is the app for the API once the centre's services run.
func (a *App) upstreamReporter() api.UpstreamReporter { return a }

// commandRelay is the centre's relay for the API (nil when off).
type commandRelay struct{ a *App }

// RelayCommand implements api.CommandRelay.
func (c commandRelay) RelayCommand(ctx context.Context, clientID string, m *msg.Message, wait string, timeout time.Duration) (api.RelayedCommand, bool, error) {
	r := c.a.up.relay
	if r == nil {
		return api.RelayedCommand{}, false, nil
	}
	res, found, err := r.Command(ctx, clientID, m, wait, timeout)
	if err != nil || !found {
		return api.RelayedCommand{}, found, err
	}
	return api.RelayedCommand{Edge: res.Edge, Status: res.Status, Reason: res.Reason, ID: res.ID,
		DeliveredAt: res.DeliveredAt, AckedAt: res.AckedAt}, true, nil
}

var (
	_ api.UpstreamReporter = (*App)(nil)
	_ api.CommandRelay     = commandRelay{}
)
