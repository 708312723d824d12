// Package bridge is iothub's shared delivery engine: the Sink and Source
// interfaces every bridge implements (Kafka today; Redis, webhooks,
// PostgreSQL and upstream MQTT next) and the one Runner that gives each
// sink its buffering, batching, retry with backoff and jitter, per-send
// timeout, durable on-disk queue, status and metrics.
//
// # Data flow
//
// A producer (the rule engine's bridge action) calls Runner.Enqueue with
// ready-made Records. Enqueue never blocks on the sink. The queue is, oldest
// first: the durable queue on disk (bridge/diskqueue) in
// <data_dir>/bridges/<name>/, then a bounded memory queue (fixed chunks,
// never copied). A record goes to memory; when memory is full, its oldest
// eighth is appended to disk in one write (so memory stays the newest
// part, and a slow sink costs one write per many records, not one per
// record); while the sink is failing, records go straight to disk.
//
// One sender goroutine takes batches in order (disk first, then memory)
// and sends them under a timeout. A sink that implements Pipeliner (Kafka)
// gets up to MaxInflightBatches batches in flight; the runner settles them
// strictly in order (a disk batch is committed only when it and every
// batch before it were acknowledged), and on the first failure aborts the
// pipeline, waits for the window's answers and sends again from the first
// batch not acknowledged (a memory batch is not started while disk batches
// are in flight, so that the failed ones can go back to the head of the
// disk queue in order). Other sinks have one batch in flight. Retryable
// errors are retried with exponential backoff and jitter. Memory batches
// that failed (or timed out: a hanging server) are put back at the head of
// the disk queue, so that a hub restart keeps them and order is preserved.
// Close does the same with unanswered batches and writes the memory queue
// to disk.
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
// once (a retried batch, or a batch after it in the window, may repeat
// records that the sink had already taken), and records first reach the
// sink in Enqueue order, provided that the sink's Pipeline never delivers
// a record after an earlier one failed (see Pipeline). Records waiting in
// memory are lost if the process is killed (kill -9); Close writes them to
// disk. The exceptions are
// counted and logged: a full disk queue (policy drop_oldest or refuse), a
// permanent error, a disk write error.
//
// # Concurrency
//
// Runner methods are safe for concurrent use. Lock order: Runner.mu →
// diskqueue.Queue.mu. Sinks are called from one goroutine at a time.
package bridge
