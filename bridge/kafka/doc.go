// Package kafka is iothub's Kafka bridge on github.com/twmb/franz-go: a
// Producer (a bridge.Sink: records from rules to Kafka topics) and a
// Consumer (a bridge.Source: records from Kafka topics to MQTT).
//
// # Producer
//
// The Producer keeps one franz-go client for its whole life, so that the
// idempotent producer's session (producer id, sequence numbers) survives
// reconnects: a batch franz-go sends again after a cut connection, a
// timeout or a broker that hung carries the same sequence numbers and
// Kafka discards the copy. It is a bridge.Pipeliner: the runner keeps
// several batches in flight on it (franz-go keeps each partition in order
// across them), never abandons one on a timeout, and asks for a flush
// (franz-go's linger stopped) when its window is full. Each record's
// answer is reported (bridge.BatchError): errors retrying cannot fix (a
// record too large, an invalid or unknown topic after franz-go's
// unknown-topic retries, not authorized) are bridge.Permanent and do not
// stop the others; a retryable one breaks the pipeline, so that nothing
// produced after it on that pipeline overtakes it (the runner sends it
// again on a new pipeline of the same client). In sync mode the records
// of a batch are produced one after the other. Send is a pipeline of one
// batch. Failed broker connections are reported to the runner at once
// (bridge.StatusReporter), and a closed connection starts a probe, so an
// idle bridge notices a Kafka that went away. DeadLetter produces refused
// records to another topic with the same client.
//
// # Consumer
//
// Run joins a consumer group, and for each record renders the MQTT topic
// and payload templates, calls publish, and commits offsets only after
// publish returned (at least once). A record whose topic renders invalid
// is skipped and counted; any other publish error stops Run without
// committing that record, and the caller restarts it. The status reads
// rebalancing while the consumer joins its group and while the group
// moves partitions; SessionTimeout (default 10 s) bounds how long a dead
// member holds its partitions. When Run ends it leaves the group and
// closes the client, each bounded by a few seconds.
//
// # Concurrency
//
// Producer.Send is called by one goroutine at a time (the bridge.Runner);
// Health and Close may be called concurrently with it.
package kafka
