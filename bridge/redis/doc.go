// Package redis is the Redis sink of iothub's bridges: a bridge.Sink that
// writes each record with one command — PUBLISH to a channel, XADD to a
// stream (MAXLEN ~ n), HSET of a hash (with PEXPIRE for a TTL) or SET of a
// key (with PX) — and each batch as one pipeline, in order. It talks to a
// standalone server, a Sentinel-managed master or a Cluster through
// go-redis's UniversalClient, with AUTH and TLS.
//
// Record fields: Topic is the channel, stream or key; Value is the message
// (publish) or value (set); for hset and xadd, the fields are the record's
// Headers when the bridge has field templates, else the top-level fields
// of Value, a JSON object (see Fields).
//
// Errors: a network error, a timeout or a server error is retryable (the
// bridge.Runner retries the batch); a WRONGTYPE reply (the key holds
// another type) is permanent. Commands of a pipeline run independently,
// so the records of a batch other than the refused ones were written.
package redis
