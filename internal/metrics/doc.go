// Package metrics exposes the hub's measurements in the Prometheus format.
//
// # Lifecycle
//
// New builds a Metrics with its own prometheus.Registry (never the global
// default one), the Go runtime and process collectors, and the
// publish-to-deliver latency histograms. The Metrics value is handed to the
// broker as broker.Options.Metrics before the broker exists (the broker calls
// ObserveDelivery on its write path); once the broker is built, AddBroker
// registers a collector that reads the broker's Stats snapshot at scrape
// time, so counting costs the hot path nothing beyond the broker's own
// atomic counters. Later components (rules, bridges) register their own
// collectors through Registerer. Handler serves GET /metrics.
//
// # Names
//
// Every metric is iothub_<thing>_<unit>, counters end in _total, times are
// in seconds and sizes in bytes (Prometheus conventions). docs/observability.md
// lists them all.
//
// # Concurrency
//
// All methods are safe for concurrent use. ObserveDelivery does not allocate.
package metrics
