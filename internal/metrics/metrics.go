package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/iothub-dev/iothub/internal/broker"
)

// LatencyBuckets are the upper bounds, in seconds, of the publish-to-deliver
// latency histogram: 100 µs to 30 s. A message queued for an offline
// session and delivered when it comes back lands in +Inf.
var LatencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// Metrics is the hub's Prometheus registry and the measurements the broker
// reports to it. It implements broker.Metrics.
type Metrics struct {
	reg     *prometheus.Registry
	latency [3]prometheus.Observer // by QoS
}

// New returns a Metrics with the Go runtime, process and latency metrics
// registered.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "iothub_delivery_latency_seconds",
		Help:    "Time from a PUBLISH arriving at the hub to its delivery being written to a subscriber's socket, by delivery QoS.",
		Buckets: LatencyBuckets,
	}, []string{"qos"})
	m.reg.MustRegister(vec)
	for q, l := range qosLabels {
		m.latency[q] = vec.WithLabelValues(l)
	}
	return m
}

// qosLabels are the values of the qos label.
var qosLabels = [3]string{"0", "1", "2"}

// ObserveDelivery records one publish-to-deliver latency; it implements
// broker.Metrics and does not allocate.
func (m *Metrics) ObserveDelivery(latency time.Duration, qos byte) {
	m.latency[min(qos, 2)].Observe(latency.Seconds())
}

// StatsSource is what the broker collector reads at scrape time;
// *broker.Server implements it.
type StatsSource interface {
	// Stats returns a snapshot of the broker's counters.
	Stats() broker.Stats
}

// AddBroker registers the collector of src's counters. Call it once.
func (m *Metrics) AddBroker(src StatsSource) error {
	return m.reg.Register(newBrokerCollector(src))
}

// Registerer returns the registry for components that add their own
// collectors (rules, bridges).
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Gatherer returns the registry for tests and custom exposition.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg,
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
	})
}

var _ broker.Metrics = (*Metrics)(nil)
