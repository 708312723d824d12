package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iothub-dev/iothub/internal/listener"
)

// LimitSource is what the HTTP listener collector reads at scrape time;
// *listener.Limited implements it.
type LimitSource interface {
	// Stats returns the listener's counters.
	Stats() listener.LimitStats
}

var (
	descHTTPConns   = desc("iothub_http_connections", "Connections open to an HTTP port (the API's).", "listener")
	descHTTPRefused = desc("iothub_http_connections_refused_total", "Connections to an HTTP port closed at once, by reason (max_connections, max_connections_per_address).", "listener", "reason")
)

// AddHTTPListener registers the collector of an HTTP port's connection
// counters, labelled name. Call it once per listener.
func (m *Metrics) AddHTTPListener(name string, src LimitSource) error {
	return m.reg.Register(&httpCollector{name: name, src: src})
}

type httpCollector struct {
	name string
	src  LimitSource
}

func (c *httpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHTTPConns
	ch <- descHTTPRefused
}

func (c *httpCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	gauge(ch, descHTTPConns, st.Open, c.name)
	counter(ch, descHTTPRefused, st.RefusedMax, c.name, "max_connections")
	counter(ch, descHTTPRefused, st.RefusedPerAddress, c.name, "max_connections_per_address")
}
