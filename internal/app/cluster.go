package app

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/iothub-dev/iothub/internal/cluster"
	"github.com/iothub-dev/iothub/internal/metrics"
)

// clusterDir returns the replicated state's directory: cluster.dir or
// <data_dir>/cluster.
func (a *App) clusterDir() string {
	if a.cfg.Cluster.Dir != "" {
		return a.cfg.Cluster.Dir
	}
	return filepath.Join(a.cfg.DataDir, "cluster")
}

// fenceWait bounds how long a restarted node waits, before it serves, for
// the replicated state and for the others to adopt the sessions of its
// previous life, to close its stale copies of them (after that they are
// checked once the state is ready).
const fenceWait = 60 * time.Second

// startCluster joins the cluster when cluster.address is set (after the
// store is loaded, so that the recovered subscriptions are announced, and
// before the listeners, so that no client is served alone). Without an
// address nothing starts: a single node runs no NATS at all.
func (a *App) startCluster() error {
	c := a.cfg.Cluster
	if !c.Enabled() {
		return nil
	}
	node, err := cluster.Start(cluster.Options{
		Name: a.cfg.Node.Name, Address: c.Address, Advertise: c.Advertise, Seeds: c.Seeds,
		ClusterName: c.Name, Secret: string(c.Secret), Replicas: c.Replicas, Dir: a.clusterDir(),
		TLSCertFile: c.TLS.CertFile, TLSKeyFile: c.TLS.KeyFile, TLSCAFile: c.TLS.CAFile,
		ForwardTimeout: c.ForwardTimeout.D(), NodeTimeout: c.NodeTimeout.D(),
		MaxPayload: a.cfg.MQTT.MaxPacketSize + 64<<10, QueueMaxAge: a.cfg.MQTT.MaxSessionExpiry.D(), Logger: a.log,
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	node.Attach(a.broker)
	// Sessions this node recovered that another node adopted while it was
	// away are closed before its filters are announced: a stale copy would
	// take (and acknowledge) messages its adopter never sees.
	ctx, cancel := context.WithTimeout(context.Background(), fenceWait)
	node.FenceRecovered(ctx)
	cancel()
	a.broker.SetCluster(node)
	// PUBACKs that vouch for a persistent session's delivery wait for its
	// replicated write (the node is a Syncer of the broker's committer).
	request, _ := a.broker.AddSyncer(node)
	node.SetSyncRequest(request)
	a.cluster = node
	if a.metrics != nil {
		if err := a.metrics.AddCluster(clusterMetrics{a}); err != nil {
			a.log.Error("cannot register cluster metrics", "error", err)
		}
	}
	if err := a.serveClusterAPI(); err != nil { // cluster_api.go
		node.Close()
		a.cluster = nil
		return fmt.Errorf("cluster: %w", err)
	}
	a.log.Info("cluster node started", "node", a.cfg.Node.Name, "address", c.Address, "seeds", c.Seeds)
	return nil
}

// stopCluster leaves the cluster after the broker stopped.
func (a *App) stopCluster() {
	if a.cluster != nil {
		a.cluster.Close()
	}
}

// clusterStatus is the document of GET /api/v1/cluster; nil on a single
// node.
func (a *App) clusterStatus() any {
	if a.cluster == nil {
		return nil
	}
	return struct {
		Enabled bool `json:"enabled"`
		cluster.Status
	}{true, a.cluster.Status()}
}

// clusterMetrics adapts the node's and the broker's cluster counters to
// the metrics package.
type clusterMetrics struct{ a *App }

// ClusterStats implements metrics.ClusterSource.
func (m clusterMetrics) ClusterStats() metrics.ClusterStats {
	n := m.a.cluster
	st := n.Stats()
	status := n.Status()
	bs := m.a.broker.Stats()
	out := metrics.ClusterStats{
		Nodes: len(status.Nodes), PendingForwards: status.PendingForwards,
		Forwarded: st.Forwarded, ForwardedBytes: st.ForwardedBytes, Received: st.Received, Duplicates: st.Duplicates,
		Retried: st.Retried, Failed: st.ForwardFailed,
		TakeoversIn: bs.SessionsTakenIn, TakeoversOut: bs.SessionsTakenAway, Adopted: bs.SessionsAdopted, Fenced: st.Fenced,
		Relayed: st.Relayed, RelayFailed: st.RelayFailed,
		ReplicationErrors: st.RetainedDropped + st.RecordsFailed + st.QueueFailed + st.QueueTimeouts, Dropped: st.SlowConsumer + st.Malformed,
		AckBounds: st.AckLatency.Bounds, AckCounts: st.AckLatency.Counts, AckCount: st.AckLatency.Count, AckSum: st.AckLatency.Sum,
	}
	for _, ns := range status.Nodes {
		if !ns.Self {
			out.RemoteRoutes += ns.Routes
		}
	}
	return out
}
