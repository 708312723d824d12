// Package bridgemgr manages iothub's bridges: it turns bridge definitions
// (the configuration file's bridges section, data_dir/bridges.json, the
// HTTP API) into running bridge.Runner and bridge.SourceRunner values,
// registers the rule action type "bridge" that hands rule outputs to a
// producer, renders those outputs into records with the producer's
// templates, and reports status and metrics.
//
// # Lifecycle
//
// New, then Register on the rule engine's registry, then Start with the
// file's bridges (API bridges are loaded from bridges.json), then Close,
// which stops every bridge; producers write what they hold in memory to
// their disk queues, so the next Start resumes it.
//
// # Concurrency
//
// All methods are safe for concurrent use. Management calls hold the
// manager's lock while starting or stopping a bridge; Enqueue (the rules'
// hot path) takes it for reading only.
package bridgemgr
