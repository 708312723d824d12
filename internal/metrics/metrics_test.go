package metrics

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
)

type fakeSource struct{ st broker.Stats }

func (f fakeSource) Stats() broker.Stats { return f.st }

func sampleStats() broker.Stats {
	return broker.Stats{
		Uptime:                     90 * time.Second,
		Connections:                3,
		Sessions:                   4,
		Subscriptions:              5,
		Retained:                   6,
		BytesIn:                    1000,
		BytesOut:                   2000,
		Dropped:                    map[string]uint64{"queue_full": 7},
		MessagesInByQoS:            [3]uint64{10, 11, 12},
		MessagesOutByQoS:           [3]uint64{20, 21, 22},
		PayloadBytesInByQoS:        [3]uint64{100, 110, 120},
		PayloadBytesOutByQoS:       [3]uint64{200, 210, 220},
		ConnectedByVersion:         map[string]int64{"3.1.1": 2, "5.0": 1},
		ConnectsByVersion:          map[string]uint64{"3.1.1": 8, "5.0": 9},
		ConnectionsByListener:      map[string]int64{"tcp": 2, "ws": 1},
		ConnectionsTotalByListener: map[string]int64{"tcp": 30, "ws": 10},
		Disconnects:                map[string]int64{"normal": 13, "keepalive_timeout": 2},
		ConnectsRefused:            map[string]int64{"Not authorized": 4},
		AuthSucceeded:              17,
		AuthFailed:                 4,
		AuthFailedByReason:         map[string]int64{"bad_user_name_or_password": 3, "banned": 1},
		AuthzDeniedPublish:         5,
		AuthzDeniedSubscribe:       2,
		AuthzDeniedRead:            7,
		SessionTakeoversRefused:    4,
		PublishRateLimited:         8,
		ConnectionRateLimited:      1,
	}
}

// metricCase is one metric family and the text exposition expected of it.
type metricCase struct {
	name, metrics, want string
}

// checkMetrics compares each case's family, as m gathers it, with its
// exposition, in a subtest per case.
func checkMetrics(t *testing.T, m *Metrics, tests []metricCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(tc.want), tc.metrics))
		})
	}
}

func TestCollector_values(t *testing.T) {
	m := New()
	require.NoError(t, m.AddBroker(fakeSource{sampleStats()}))
	checkMetrics(t, m, []metricCase{
		{"received by qos", "iothub_messages_received_total", `
# HELP iothub_messages_received_total PUBLISH packets received from clients, by QoS.
# TYPE iothub_messages_received_total counter
iothub_messages_received_total{qos="0"} 10
iothub_messages_received_total{qos="1"} 11
iothub_messages_received_total{qos="2"} 12
`},
		{"connections by listener", "iothub_connections", `
# HELP iothub_connections Open network connections, by listener.
# TYPE iothub_connections gauge
iothub_connections{listener="tcp"} 2
iothub_connections{listener="ws"} 1
`},
		{"disconnects by reason", "iothub_disconnects_total", `
# HELP iothub_disconnects_total Connections closed, by cause.
# TYPE iothub_disconnects_total counter
iothub_disconnects_total{reason="keepalive_timeout"} 2
iothub_disconnects_total{reason="normal"} 13
`},
		{"auth", "iothub_auth_total", `
# HELP iothub_auth_total Authentication attempts, by result (success, failure).
# TYPE iothub_auth_total counter
iothub_auth_total{result="failure"} 4
iothub_auth_total{result="success"} 17
`},
		{"dropped", "iothub_messages_dropped_total", `
# HELP iothub_messages_dropped_total Deliveries not made, by reason.
# TYPE iothub_messages_dropped_total counter
iothub_messages_dropped_total{reason="queue_full"} 7
`},
	})
}

// TestCollector_lint checks the names and help texts against Prometheus's
// conventions (the linter promtool runs).
func TestCollector_lint(t *testing.T) {
	m := New()
	require.NoError(t, m.AddBroker(fakeSource{sampleStats()}))
	require.NoError(t, m.AddRules(sampleRules()))
	require.NoError(t, m.AddBridges(sampleBridges()))
	m.ObserveDelivery(3*time.Millisecond, 1)
	problems, err := testutil.GatherAndLint(m.Gatherer())
	require.NoError(t, err)
	var own []string
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "iothub_") {
			own = append(own, p.Metric+": "+p.Text)
		}
	}
	require.Empty(t, own)
}

func TestObserveDelivery_histogram(t *testing.T) {
	m := New()
	m.ObserveDelivery(300*time.Microsecond, 0)
	m.ObserveDelivery(2*time.Second, 1)
	m.ObserveDelivery(time.Hour, 2)
	m.ObserveDelivery(time.Millisecond, 9) // out of range: counted as QoS 2
	n, err := testutil.GatherAndCount(m.Gatherer(), "iothub_delivery_latency_seconds")
	require.NoError(t, err)
	require.Equal(t, 3, n, "one series per QoS")
	mfs, err := m.Gatherer().Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "iothub_delivery_latency_seconds" {
			continue
		}
		got := map[string]uint64{}
		for _, s := range mf.GetMetric() {
			got[s.GetLabel()[0].GetValue()] = s.GetHistogram().GetSampleCount()
		}
		require.Equal(t, map[string]uint64{"0": 1, "1": 1, "2": 2}, got)
	}
}

func TestObserveDelivery_noAllocs(t *testing.T) {
	m := New()
	allocs := testing.AllocsPerRun(1000, func() { m.ObserveDelivery(time.Millisecond, 1) })
	require.Zero(t, allocs)
}

func TestHandler_servesText(t *testing.T) {
	m := New()
	require.NoError(t, m.AddBroker(fakeSource{sampleStats()}))
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, want := range []string{"iothub_uptime_seconds 90", `iothub_clients_connected{protocol_version="5.0"} 1`, "go_goroutines", "process_resident_memory_bytes"} {
		require.Contains(t, string(b), want)
	}
}

func BenchmarkObserveDelivery(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveDelivery(time.Millisecond, 1)
	}
}

// TestDashboard_usesExportedMetrics checks that every iothub_ metric the
// Grafana dashboard queries is one this package exports.
func TestDashboard_usesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("../../dashboards/iothub.json")
	require.NoError(t, err)
	var dash map[string]any
	require.NoError(t, json.Unmarshal(b, &dash), "dashboard is valid JSON")
	m := New()
	require.NoError(t, m.AddBroker(fakeSource{sampleStats()}))
	require.NoError(t, m.AddRules(sampleRules()))
	require.NoError(t, m.AddBridges(sampleBridges()))
	m.ObserveDelivery(time.Millisecond, 0)
	mfs, err := m.Gatherer().Gather()
	require.NoError(t, err)
	known := map[string]bool{}
	for _, mf := range mfs {
		known[mf.GetName()] = true
		if mf.GetType().String() == "HISTOGRAM" {
			known[mf.GetName()+"_bucket"] = true
		}
	}
	used := regexp.MustCompile(`\b(?:iothub|go|process)_[a-z_]+`).FindAllString(string(b), -1)
	require.NotEmpty(t, used)
	for _, name := range used {
		require.Truef(t, known[name], "dashboard queries %s, which is not exported", name)
	}
}
