package config

// Metrics configures the Prometheus endpoint, GET /metrics on the HTTP API
// listener (api.address).
type Metrics struct {
	// Enabled serves GET /metrics.
	Enabled bool `yaml:"enabled"`
	// RequireAPIKey puts /metrics behind the HTTP API's keys, like
	// /api/v1; false (the default) leaves it open to any scraper that can
	// reach api.address.
	RequireAPIKey bool `yaml:"require_api_key"`
}

// defaultMetrics is the metrics section when nothing is configured: on,
// without a key.
func defaultMetrics() Metrics { return Metrics{Enabled: true} }
