package metrics

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/bridgemgr"
)

type fakeBridges struct {
	list    []bridgemgr.Info
	metrics map[string]any
}

func (f fakeBridges) List() []bridgemgr.Info { return f.list }
func (f fakeBridges) Metrics(name string) (any, error) {
	m, ok := f.metrics[name]
	if !ok {
		return nil, fmt.Errorf("bridge %s: %w", name, bridgemgr.ErrNotFound)
	}
	return m, nil
}

func sampleBridges() fakeBridges {
	info := func(name, typ, state string) bridgemgr.Info {
		return bridgemgr.Info{Bridge: config.Bridge{Name: name, Type: typ, Enabled: true}, Status: bridge.Status{State: state}}
	}
	return fakeBridges{
		list: []bridgemgr.Info{
			info("kafka_out", "kafka_producer", bridge.StateConnected),
			info("kafka_in", "kafka_consumer", bridge.StateDisconnected),
			info("off", "webhook", bridge.StateStopped),
			info("gone", "redis", bridge.StateConnected), // deleted before Metrics
		},
		metrics: map[string]any{
			"kafka_out": bridge.Metrics{Matched: 100, Queued: 7, QueuedDisk: 5, InFlight: 2, Sent: 90, Failed: 4, Retried: 3,
				Dropped: map[string]uint64{bridge.DropBufferFull: 1, "new_reason": 2}, BufferBytes: 2048,
				SendLatency: bridge.Latency{Count: 10, AvgMS: 4, P50MS: 3, P99MS: 12, MaxMS: 15}},
			"kafka_in": bridge.SourceMetrics{Received: 20, Published: 18, Failed: 1, Dropped: 1, Restarts: 2},
			"off":      nil,
		},
	}
}

func TestBridgeCollector_values(t *testing.T) {
	m := New()
	require.NoError(t, m.AddBridges(sampleBridges()))
	checkMetrics(t, m, []metricCase{
		{"up", "iothub_bridge_up", `
# HELP iothub_bridge_up Whether the bridge is connected (1) or connecting, disconnected or stopped (0).
# TYPE iothub_bridge_up gauge
iothub_bridge_up{bridge="gone",type="redis"} 1
iothub_bridge_up{bridge="kafka_in",type="kafka_consumer"} 0
iothub_bridge_up{bridge="kafka_out",type="kafka_producer"} 1
iothub_bridge_up{bridge="off",type="webhook"} 0
`},
		{"sent", "iothub_bridge_records_sent_total", `
# HELP iothub_bridge_records_sent_total Records the external system acknowledged.
# TYPE iothub_bridge_records_sent_total counter
iothub_bridge_records_sent_total{bridge="kafka_out",type="kafka_producer"} 90
`},
		{"dropped", "iothub_bridge_records_dropped_total", `
# HELP iothub_bridge_records_dropped_total Records given up, by reason (buffer_full, permanent, disk_error, stopped, encoding).
# TYPE iothub_bridge_records_dropped_total counter
iothub_bridge_records_dropped_total{bridge="kafka_out",reason="buffer_full"} 1
iothub_bridge_records_dropped_total{bridge="kafka_out",reason="disk_error"} 0
iothub_bridge_records_dropped_total{bridge="kafka_out",reason="encoding"} 0
iothub_bridge_records_dropped_total{bridge="kafka_out",reason="new_reason"} 2
iothub_bridge_records_dropped_total{bridge="kafka_out",reason="permanent"} 0
iothub_bridge_records_dropped_total{bridge="kafka_out",reason="stopped"} 0
`},
		{"queued", "iothub_bridge_queued_records", `
# HELP iothub_bridge_queued_records Records waiting to be sent, in memory or on disk.
# TYPE iothub_bridge_queued_records gauge
iothub_bridge_queued_records{bridge="kafka_out",where="disk"} 5
iothub_bridge_queued_records{bridge="kafka_out",where="memory"} 2
`},
		{"buffer", "iothub_bridge_buffer_bytes", `
# HELP iothub_bridge_buffer_bytes Approximate bytes of the waiting records (memory and disk).
# TYPE iothub_bridge_buffer_bytes gauge
iothub_bridge_buffer_bytes{bridge="kafka_out"} 2048
`},
		{"latency", "iothub_bridge_send_latency_seconds", `
# HELP iothub_bridge_send_latency_seconds Duration of successful sends, one sample per batch, since the bridge started (quantiles good to a quarter).
# TYPE iothub_bridge_send_latency_seconds summary
iothub_bridge_send_latency_seconds{bridge="kafka_out",quantile="0.5"} 0.003
iothub_bridge_send_latency_seconds{bridge="kafka_out",quantile="0.99"} 0.012
iothub_bridge_send_latency_seconds_sum{bridge="kafka_out"} 0.04
iothub_bridge_send_latency_seconds_count{bridge="kafka_out"} 10
`},
		{"source", "iothub_bridge_source_published_total", `
# HELP iothub_bridge_source_published_total Messages a consumer bridge published into the hub.
# TYPE iothub_bridge_source_published_total counter
iothub_bridge_source_published_total{bridge="kafka_in"} 18
`},
	})
}
