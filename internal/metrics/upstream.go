package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/internal/upstream"
)

// UpstreamSource is what the upstream collector reads at scrape time: the
// edge (nil when the hub has none) and the centre's counters.
type UpstreamSource interface {
	EdgeStatus() *upstream.EdgeStatus
	CentreStatus() upstream.CentreStatus
}

// AddUpstream registers the collector of the edge link's and the centre's
// edge metrics. Call it once.
func (m *Metrics) AddUpstream(src UpstreamSource) error {
	return m.reg.Register(&upstreamCollector{src: src})
}

// The upstream metrics; docs/observability.md and docs/edge.md describe them.
var (
	descUpLink      = desc("iothub_upstream_link_up", "Whether the edge's link to the centre is connected (1) or not (0).")
	descUpConnects  = desc("iothub_upstream_link_connects_total", "Connections of the link to the centre.")
	descUpTakeovers = desc("iothub_upstream_link_takeovers_total", "Times the centre gave the link's session to another connection with its client id (another edge with the same name?).")
	descUpBacklog   = desc("iothub_upstream_backlog_messages", "Messages waiting to be sent up, per stream.", "stream")
	descUpBytes     = desc("iothub_upstream_backlog_bytes", "Bytes of the messages waiting to be sent up, per stream.", "stream")
	descUpOldest    = desc("iothub_upstream_oldest_backlog_age_seconds", "Age of the oldest message waiting to be sent up, per stream.", "stream")
	descUpSent      = desc("iothub_upstream_sent_total", "Messages the centre acknowledged, per stream.", "stream")
	descUpResends   = desc("iothub_upstream_resends_total", "Messages sent up again after a lost connection, per stream.", "stream")
	descUpExpired   = desc("iothub_upstream_expired_total", "Messages dropped for being older than their stream's TTL.", "stream")
	descUpRefused   = desc("iothub_upstream_refused_total", "Messages the centre refused (PUBACK reason code 0x80 or more).", "stream")
	descUpDropped   = desc("iothub_upstream_dropped_total", "Messages a stream's queue gave up, by reason (buffer_full, disk_error, stopped, encoding).", "stream", "reason")
	descUpRate      = desc("iothub_upstream_rate", "Messages the centre acknowledged per second over the last 10 seconds.")
	descEdgeChecked = desc("iothub_edges_dedup_checked_total", "Messages of edges whose sequence number the centre checked.")
	descEdgeHits    = desc("iothub_edges_dedup_hits_total", "Resends of edges the centre dropped before routing.")
	descEdgeOrigins = desc("iothub_edges_dedup_origins", "Edge queues whose last routed sequence number the centre keeps.")
	descEdgeRelay   = desc("iothub_edges_commands_total", "Commands for devices behind edges, by result (relayed, answered, unclaimed, timeout).", "result")
	allUpDescs      = []*prometheus.Desc{descUpLink, descUpConnects, descUpTakeovers, descUpBacklog, descUpBytes, descUpOldest, descUpSent,
		descUpResends, descUpExpired, descUpRefused, descUpDropped, descUpRate, descEdgeChecked, descEdgeHits, descEdgeOrigins, descEdgeRelay}
	upDropReasons = []string{bridge.DropBufferFull, bridge.DropDiskError, bridge.DropStopped, bridge.DropEncoding, bridge.DropPermanent}
)

type upstreamCollector struct{ src UpstreamSource }

// Describe implements prometheus.Collector.
func (c *upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, allUpDescs...)
}

// Collect implements prometheus.Collector.
func (c *upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	cs := c.src.CentreStatus()
	counter(ch, descEdgeChecked, cs.Dedup.Checked)
	counter(ch, descEdgeHits, cs.Dedup.Hits)
	gauge(ch, descEdgeOrigins, float64(cs.Dedup.Origins))
	if r := cs.Relay; r != nil {
		counter(ch, descEdgeRelay, r.Relayed, "relayed")
		counter(ch, descEdgeRelay, r.Answered, "answered")
		counter(ch, descEdgeRelay, r.Unclaimed, "unclaimed")
		counter(ch, descEdgeRelay, r.Timeouts, "timeout")
	}
	es := c.src.EdgeStatus()
	if es == nil {
		return
	}
	up := oneIf(es.Link.State == upstream.StateConnected)
	gauge(ch, descUpLink, up)
	counter(ch, descUpConnects, es.Link.Connects)
	counter(ch, descUpTakeovers, es.Link.Takeovers)
	gauge(ch, descUpRate, es.Rate)
	for _, s := range es.Streams {
		gauge(ch, descUpBacklog, float64(s.BacklogMessages), s.Name)
		gauge(ch, descUpBytes, float64(s.BacklogBytes), s.Name)
		gauge(ch, descUpOldest, s.OldestBacklogAgeSeconds, s.Name)
		counter(ch, descUpSent, s.Sent, s.Name)
		counter(ch, descUpResends, s.Resends, s.Name)
		counter(ch, descUpExpired, s.Expired, s.Name)
		counter(ch, descUpRefused, s.Refused, s.Name)
		for _, r := range upDropReasons {
			counter(ch, descUpDropped, s.Dropped[r], s.Name, r)
		}
	}
}
