package metrics

import "github.com/prometheus/client_golang/prometheus"

// DeviceStats are the device services' counters.
type DeviceStats struct {
	// Shadow requests answered on /accepted or /rejected (API ones too),
	// and MQTT requests refused with 429 because a worker's queue was full.
	ShadowAccepted, ShadowRejected, ShadowBusy uint64
	// Jobs device requests answered, and those refused because the
	// queue was full (RequestThrottled, counted in JobsRejected too).
	JobsAccepted, JobsRejected, JobsThrottled uint64
}

// DeviceSource is what the device collector reads at scrape time.
type DeviceSource interface {
	DeviceStats() DeviceStats
}

// AddDevices registers the collector of the device services' counters.
// Call it once.
func (m *Metrics) AddDevices(src DeviceSource) error {
	return m.reg.Register(&deviceCollector{src: src})
}

var (
	descShadowRequests = desc("iothub_shadow_requests_total", "Device shadow requests, by result: accepted, rejected, busy (429: a worker's queue was full; also counted in rejected).", "result")
	descJobsRequests   = desc("iothub_jobs_requests_total", "Jobs device requests, by result: accepted, rejected, throttled (the queue was full; also counted in rejected).", "result")
)

type deviceCollector struct{ src DeviceSource }

// Describe implements prometheus.Collector.
func (c *deviceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descShadowRequests
	ch <- descJobsRequests
}

// Collect implements prometheus.Collector.
func (c *deviceCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.DeviceStats()
	for _, v := range []struct {
		d      *prometheus.Desc
		n      uint64
		result string
	}{
		{descShadowRequests, s.ShadowAccepted, "accepted"}, {descShadowRequests, s.ShadowRejected, "rejected"},
		{descShadowRequests, s.ShadowBusy, "busy"}, {descJobsRequests, s.JobsAccepted, "accepted"},
		{descJobsRequests, s.JobsRejected, "rejected"}, {descJobsRequests, s.JobsThrottled, "throttled"},
	} {
		counter(ch, v.d, v.n, v.result)
	}
}
