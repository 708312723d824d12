// Package bridge is iothub's shared delivery engine: the Sink and Source
// interfaces every bridge implements (Kafka, Redis, webhooks, PostgreSQL,
// MQTT) and the one Runner that gives each sink its durable queue, memory
// cache, batching, per-record retry with backoff and jitter, dead letter,
// status and metrics.
//
// # Data flow
//
// A producer (the rule engine's bridge action) calls Runner.Enqueue with
// ready-made Records; Enqueue never waits for the sink. Each record is
// appended to the durable queue (bridge/diskqueue, in
// <data_dir>/bridges/<name>/) — buffered in memory, no system call — and
// kept in a bounded memory cache (fixed chunks, never copied), whose
// oldest records are dropped from memory only when it is full. Sync writes
// what was appended (one write) and, when asked, fsyncs it: the broker
// calls it through the bridge manager (a broker.Syncer) in its group
// commit, before the acknowledgements of the messages the records came
// from, so the memory cache is never the only copy of an acknowledged
// record. Without Options.RequestSync the runner writes its appends
// itself, at once, in the background.
//
// One sender goroutine takes batches in order — from the memory cache, or
// read back from the durable queue for what the cache no longer holds —
// and sends them: up to MaxInflightBatches at once to a Pipeliner (Kafka),
// one at a time under SendTimeout to other sinks. Each record of a batch
// has its own fate (BatchError): delivered; refused for good (Permanent) —
// handed to the DeadLetter, counted once as failed; or retryable — owed a
// resend, in order, before anything new, after a backoff. The durable
// queue is committed up to the oldest record not yet settled. A
// Pipeliner's batch is never abandoned on a timeout (its client retries
// it; an idempotent Kafka producer then does not duplicate it); the status
// says disconnected meanwhile.
//
// # Guarantees
//
// At least once, in order: a record accepted by Enqueue and synced is
// sent at least once, even across a kill -9; records first reach the sink
// in Enqueue order, and a record sent again goes before anything newer.
// The exceptions are counted and logged: a full durable queue (policy
// drop_oldest or refuse), a disk error, a record refused for good that no
// dead letter took.
//
// # Status
//
// Sinks that implement StatusReporter report their connection as they
// learn it; HealthChecker sinks are checked while idle. A context error
// never replaces the error a sink reported within SendTimeout.
//
// # Bridge types
//
// Each type is a package (bridge/kafka, bridge/redis, …) that registers
// itself from init with RegisterType: its name, a constructor of its
// settings (a Config: Validate, Build) and their keys as commented YAML.
// The configuration decodes a bridge's entry into those settings; the hub's
// bridge manager builds any registered type's Parts and runs its sink under
// a Runner and its source under a SourceRunner. docs/bridges.md, "Writing
// a bridge", has a complete type.
//
// # Concurrency
//
// RegisterType is meant for init; the registry is safe for concurrent use.
// Runner methods are safe for concurrent use. Lock order: Runner.mu →
// diskqueue.Queue.mu. Sinks are called from one goroutine at a time.
package bridge
