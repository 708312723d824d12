// Package kafka is iothub's Kafka bridge on github.com/twmb/franz-go: a
// Producer (a bridge.Sink: records from rules to Kafka topics) and a
// Consumer (a bridge.Source: records from Kafka topics to MQTT).
//
// # Producer
//
// Send hands a batch to a franz-go client and returns when every record
// is acknowledged (acks=all and the idempotent producer by default). In
// sync mode each record is produced and acknowledged before the next; in
// async mode the whole batch is produced at once (batched by franz-go
// with linger and max in-flight requests per broker) and Send waits for
// all the promises. Any error, and a Send that outlives its context (a
// Kafka that accepts connections but never answers), discards the client:
// its buffered records are failed, so that nothing is sent twice from an
// abandoned buffer; the next Send starts a fresh client. Errors retrying
// cannot fix (a record too large, an invalid topic) are bridge.Permanent.
//
// In async mode the Producer is also a bridge.Pipeliner: the runner keeps
// several batches produced on one client at once (franz-go keeps each
// partition in order across them), and asks for a flush (franz-go's
// linger stopped) when its window is full, since no more records come
// until an answer does. The first failed record breaks the pipeline and
// discards its client (a runner timeout aborts it the same way); the rest
// of the batch being produced is failed without producing it.
//
// A limit of franz-go, already true of one batch: when franz-go itself
// fails the records of a partition (a non-retryable error, or the
// unknown-topic retry limit) it moves that partition to a new producer
// epoch, and a record of that partition produced after that instant and
// before the pipeline sees the failure can be written before the failed
// one is sent again. Timeouts, outages and restarts do not take this path
// (the client is closed and nothing more is produced on it).
//
// # Consumer
//
// Run joins a consumer group, and for each record renders the MQTT topic
// and payload templates, calls publish, and commits offsets only after
// publish returned (at least once). A record whose topic renders invalid
// is skipped and counted; any other publish error stops Run without
// committing that record, and the caller restarts it.
//
// # Concurrency
//
// Producer.Send is called by one goroutine at a time (the bridge.Runner);
// Health and Close may be called concurrently with it.
package kafka
