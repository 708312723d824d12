package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/internal/bridgemgr"
)

// BridgeSource is what the bridge collector reads at scrape time;
// *bridgemgr.Manager implements it.
type BridgeSource interface {
	// List returns every bridge with its status.
	List() []bridgemgr.Info
	// Metrics returns a bridge's counters: a bridge.Metrics (producer), a
	// bridge.SourceMetrics (consumer), or nil when it is not running.
	Metrics(name string) (any, error)
}

// AddBridges registers the collector of src's per-bridge metrics (label
// bridge, the bridge name). Call it once.
func (m *Metrics) AddBridges(src BridgeSource) error {
	return m.reg.Register(&bridgeCollector{src: src})
}

// dropReasons are the reasons of bridge.Metrics.Dropped, always exported
// (0 included) so that rate() sees the first drop.
var dropReasons = []string{bridge.DropBufferFull, bridge.DropPermanent, bridge.DropDiskError, bridge.DropStopped, bridge.DropEncoding}

// The bridges' metrics; docs/observability.md describes each. A bridge's
// counters restart from zero when it is restarted (PUT, enable, a hub
// restart); a bridge that is not running exports only iothub_bridge_up.
var (
	descBridgeUp       = desc("iothub_bridge_up", "Whether the bridge is connected (1) or connecting, disconnected or stopped (0).", "bridge", "type")
	descBridgeMatched  = desc("iothub_bridge_records_matched_total", "Records rule actions offered to the bridge.", "bridge", "type")
	descBridgeSent     = desc("iothub_bridge_records_sent_total", "Records the external system acknowledged.", "bridge", "type")
	descBridgeFailed   = desc("iothub_bridge_records_failed_total", "Records of failed send attempts (retried or not).", "bridge", "type")
	descBridgeRetried  = desc("iothub_bridge_records_retried_total", "Records sent again after a failure.", "bridge", "type")
	descBridgeDLRotate = desc("iothub_bridge_dead_letter_rotations_total", "Rotations of the bridge's dead-letter file (full: the previous one became <file>.1).", "bridge")
	descBridgeDedup    = desc("iothub_bridge_deduplicated_total", "Records not queued or not sent again: a copy with the same identity was queued, or the sink held it after a crash.", "bridge")
	descBridgeDropped  = desc("iothub_bridge_records_dropped_total", "Records given up, by reason (buffer_full, permanent, disk_error, stopped, encoding).", "bridge", "reason")
	descBridgeQueued   = desc("iothub_bridge_queued_records", "Records waiting to be sent, in memory or on disk.", "bridge", "where")
	descBridgeInflight = desc("iothub_bridge_inflight_records", "Records being sent now.", "bridge")
	descBridgeBuffer   = desc("iothub_bridge_buffer_bytes", "Approximate bytes of the waiting records (memory and disk).", "bridge")
	descBridgeLatency  = desc("iothub_bridge_send_latency_seconds", "Duration of successful sends, one sample per batch, since the bridge started (quantiles good to a quarter).", "bridge")
	descBridgeLatMax   = desc("iothub_bridge_send_latency_max_seconds", "Longest successful send since the bridge started.", "bridge")
	descSrcReceived    = desc("iothub_bridge_source_received_total", "Messages a consumer bridge read from the external system.", "bridge")
	descSrcPublished   = desc("iothub_bridge_source_published_total", "Messages a consumer bridge published into the hub.", "bridge")
	descSrcFailed      = desc("iothub_bridge_source_failed_total", "Publish errors of a consumer bridge.", "bridge")
	descSrcDropped     = desc("iothub_bridge_source_dropped_total", "Inputs a consumer bridge skipped for a permanent error (a bad topic).", "bridge")
	descSrcRestarts    = desc("iothub_bridge_source_restarts_total", "Restarts of a consumer bridge after an error.", "bridge")
	allBridgeDescs     = []*prometheus.Desc{descBridgeUp, descBridgeMatched, descBridgeSent, descBridgeFailed, descBridgeRetried, descBridgeDLRotate, descBridgeDedup, descBridgeDropped, descBridgeQueued, descBridgeInflight, descBridgeBuffer, descBridgeLatency, descBridgeLatMax, descSrcReceived, descSrcPublished, descSrcFailed, descSrcDropped, descSrcRestarts}
)

// bridgeCollector turns one List and one Metrics snapshot per bridge and
// scrape into metrics.
type bridgeCollector struct {
	src BridgeSource
}

// Describe implements prometheus.Collector.
func (c *bridgeCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, allBridgeDescs...)
}

// Collect implements prometheus.Collector.
func (c *bridgeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, in := range c.src.List() {
		up := oneIf(in.Status.State == bridge.StateConnected)
		gauge(ch, descBridgeUp, up, in.Name, in.Type)
		mt, err := c.src.Metrics(in.Name)
		if err != nil { // deleted between List and Metrics
			continue
		}
		switch v := mt.(type) {
		case bridge.Metrics:
			collectSink(ch, in.Name, in.Type, v)
		case bridge.SourceMetrics:
			collectSource(ch, in.Name, v)
		}
	}
}

func collectSink(ch chan<- prometheus.Metric, name, typ string, m bridge.Metrics) {
	counter(ch, descBridgeMatched, m.Matched, name, typ)
	counter(ch, descBridgeSent, m.Sent, name, typ)
	counter(ch, descBridgeFailed, m.Failed, name, typ)
	counter(ch, descBridgeRetried, m.Retried, name, typ)
	counter(ch, descBridgeDLRotate, m.DeadLetterRotations, name)
	counter(ch, descBridgeDedup, m.Deduplicated, name)
	for _, r := range dropReasons {
		counter(ch, descBridgeDropped, m.Dropped[r], name, r)
	}
	for r, v := range m.Dropped { // a reason added to bridge later
		if !slices.Contains(dropReasons, r) {
			counter(ch, descBridgeDropped, v, name, r)
		}
	}
	gauge(ch, descBridgeQueued, float64(max(m.Queued-m.QueuedDisk, 0)), name, "memory")
	gauge(ch, descBridgeQueued, float64(m.QueuedDisk), name, "disk")
	gauge(ch, descBridgeInflight, float64(m.InFlight), name)
	gauge(ch, descBridgeBuffer, float64(m.BufferBytes), name)
	l := m.SendLatency
	ch <- prometheus.MustNewConstSummary(descBridgeLatency, l.Count, l.AvgMS*float64(l.Count)/1e3,
		map[float64]float64{0.5: l.P50MS / 1e3, 0.99: l.P99MS / 1e3}, name)
	gauge(ch, descBridgeLatMax, l.MaxMS/1e3, name)
}

func collectSource(ch chan<- prometheus.Metric, name string, m bridge.SourceMetrics) {
	counter(ch, descSrcReceived, m.Received, name)
	counter(ch, descSrcPublished, m.Published, name)
	counter(ch, descSrcFailed, m.Failed, name)
	counter(ch, descSrcDropped, m.Dropped, name)
	counter(ch, descSrcRestarts, m.Restarts, name)
}
