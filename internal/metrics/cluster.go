package metrics

import "github.com/prometheus/client_golang/prometheus"

// ClusterStats are a cluster node's counters (docs/cluster.md).
type ClusterStats struct {
	// Nodes is the number of live nodes including this one; RemoteRoutes
	// the MQTT filters the other nodes hold; PendingForwards the QoS 1/2
	// messages waiting for other nodes to store them.
	Nodes, RemoteRoutes, PendingForwards int
	// Forwarded and ForwardedBytes count messages sent to other nodes;
	// Received those other nodes sent here, Duplicates the copies dropped.
	Forwarded, ForwardedBytes, Received, Duplicates uint64
	// Retried and Failed count QoS 1/2 forwards sent again, and given up.
	Retried, Failed uint64
	// TakeoversIn and TakeoversOut count sessions taken from, and by,
	// another node; Adopted those adopted from a lost node; Fenced local
	// sessions closed because another node owns them.
	TakeoversIn, TakeoversOut, Adopted, Fenced uint64
	// Relayed counts messages passed on to the node that took a session
	// over from this one, RelayFailed those it did not store in time.
	Relayed, RelayFailed uint64
	// ReplicationErrors counts replicated writes that failed (retained
	// messages, session records); Dropped messages the in-process client
	// had no room for, or that did not decode.
	ReplicationErrors, Dropped uint64
	// AckBounds and AckCounts are the cumulative histogram of how long
	// QoS 1/2 forwards waited for the other nodes (seconds); AckCount and
	// AckSum its count and sum.
	AckBounds []float64
	AckCounts []uint64
	AckCount  uint64
	AckSum    float64
}

// ClusterSource is what the cluster collector reads at scrape time.
type ClusterSource interface {
	ClusterStats() ClusterStats
}

// AddCluster registers the collector of the cluster node's counters. Call
// it once, on a node that belongs to a cluster.
func (m *Metrics) AddCluster(src ClusterSource) error {
	return m.reg.Register(&clusterCollector{src: src})
}

var (
	descClusterNodes     = desc("iothub_cluster_nodes", "Live cluster nodes, this one included.")
	descClusterRoutes    = desc("iothub_cluster_remote_routes", "MQTT filters the other nodes hold, per the route table.")
	descClusterPending   = desc("iothub_cluster_pending_forwards", "QoS 1/2 messages waiting for other nodes to store them (their publishers' PUBACK waits).")
	descClusterFwd       = desc("iothub_cluster_forwarded_messages_total", "Messages this node sent to other nodes.")
	descClusterFwdBytes  = desc("iothub_cluster_forwarded_bytes_total", "Encoded bytes of the messages sent to other nodes.")
	descClusterRecv      = desc("iothub_cluster_received_messages_total", "Messages other nodes sent to this node.")
	descClusterDups      = desc("iothub_cluster_duplicates_total", "Forwarded copies dropped as duplicates (several matching filters, retries).")
	descClusterRetries   = desc("iothub_cluster_forward_retries_total", "QoS 1/2 forwards sent again after the forward timeout.")
	descClusterFailures  = desc("iothub_cluster_forward_failures_total", "QoS 1/2 forwards given up: the publisher got no PUBACK and sends again.")
	descClusterTakeovers = desc("iothub_cluster_session_takeovers_total", "Sessions that moved between nodes, by direction: in (taken from another node), out (taken by another node).", "direction")
	descClusterAdopted   = desc("iothub_cluster_sessions_adopted_total", "Sessions adopted from a lost node.")
	descClusterFenced    = desc("iothub_cluster_sessions_fenced_total", "Local sessions closed because the registry names another owner (after a partition).")
	descClusterRelayed   = desc("iothub_cluster_relayed_messages_total", "Messages that reached this node for a session it had just given up to another node, passed on to that node.")
	descClusterRelayFail = desc("iothub_cluster_relay_failures_total", "Messages passed on to the node that took a session over and not stored in time (their senders send them again).")
	descClusterReplErr   = desc("iothub_cluster_replication_errors_total", "Replicated writes that failed (retained messages, session records, session queue appends).")
	descClusterDropped   = desc("iothub_cluster_dropped_total", "Forwarded messages dropped on arrival: no room in the receive buffer, or malformed.")
	descClusterAck       = desc("iothub_cluster_forward_ack_seconds", "How long QoS 1/2 forwards waited for every node with interest to store them.")
)

type clusterCollector struct{ src ClusterSource }

// Describe implements prometheus.Collector.
func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, descClusterNodes, descClusterRoutes, descClusterPending, descClusterFwd, descClusterFwdBytes,
		descClusterRecv, descClusterDups, descClusterRetries, descClusterFailures, descClusterTakeovers, descClusterAdopted,
		descClusterFenced, descClusterRelayed, descClusterRelayFail, descClusterReplErr, descClusterDropped, descClusterAck)
}

// Collect implements prometheus.Collector.
func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.ClusterStats()
	for _, g := range []struct {
		d *prometheus.Desc
		v int
	}{{descClusterNodes, s.Nodes}, {descClusterRoutes, s.RemoteRoutes}, {descClusterPending, s.PendingForwards}} {
		gauge(ch, g.d, g.v)
	}
	for _, v := range []struct {
		d *prometheus.Desc
		n uint64
	}{
		{descClusterFwd, s.Forwarded}, {descClusterFwdBytes, s.ForwardedBytes}, {descClusterRecv, s.Received},
		{descClusterDups, s.Duplicates}, {descClusterRetries, s.Retried}, {descClusterFailures, s.Failed},
		{descClusterAdopted, s.Adopted}, {descClusterFenced, s.Fenced}, {descClusterReplErr, s.ReplicationErrors},
		{descClusterRelayed, s.Relayed}, {descClusterRelayFail, s.RelayFailed},
		{descClusterDropped, s.Dropped},
	} {
		counter(ch, v.d, v.n)
	}
	counter(ch, descClusterTakeovers, s.TakeoversIn, "in")
	counter(ch, descClusterTakeovers, s.TakeoversOut, "out")
	buckets := make(map[float64]uint64, len(s.AckBounds))
	for i, b := range s.AckBounds {
		buckets[b] = s.AckCounts[i]
	}
	ch <- prometheus.MustNewConstHistogram(descClusterAck, s.AckCount, s.AckSum, buckets)
}
