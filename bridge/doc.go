// Package bridge is iothub's shared delivery engine: the Sink and Source
// interfaces every bridge implements (Kafka today; Redis, webhooks,
// PostgreSQL and upstream MQTT next) and the one Runner that gives each
// sink its buffering, batching, retry with backoff and jitter, per-send
// timeout, durable on-disk queue, status and metrics.
//
// # Data flow
//
// A producer (the rule engine's bridge action) calls Runner.Enqueue with
// ready-made Records. Enqueue never blocks on the sink: a record goes to a
// bounded memory queue, or, when that is full or the sink is failing, to
// the durable queue on disk (bridge/diskqueue) in <data_dir>/bridges/<name>/.
// One sender goroutine takes batches in order (memory first, then disk),
// sends them with Sink.Send under a timeout, and retries retryable errors
// with exponential backoff and jitter. A batch that fails (or times out: a
// hanging server) is moved to the disk queue, ahead of everything queued
// after it, so that a hub restart keeps it and order is preserved. Close
// writes whatever is left in memory to disk.
//
// # Errors
//
// Sink.Send returns nil, a retryable error (anything), or an error wrapped
// with Permanent: a permanent error drops the batch (counted as failed and
// as dropped with reason "permanent") rather than retrying it for ever.
//
// # Guarantees
//
// At least once, in order: a record accepted by Enqueue is sent at least
// once (a retried batch may repeat records that the sink had already
// taken), and records reach the sink in Enqueue order. The exceptions are
// counted and logged: a full disk queue (policy drop_oldest or refuse), a
// permanent error, a disk write error.
//
// # Concurrency
//
// Runner methods are safe for concurrent use. Lock order: Runner.mu →
// diskqueue.Queue.mu. Sinks are called from one goroutine at a time.
package bridge
