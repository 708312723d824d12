// Package webhook is the webhook sink of iothub's bridges: a bridge.Sink
// that sends each record as one HTTP request (POST or PUT) to the URL in
// Record.Topic, with Record.Value as the body and Record.Headers as
// headers, over a bounded keep-alive connection pool.
//
// # Batches and order
//
// A batch is sent with at most PoolSize requests at once. Records with the
// same Record.Key (the client id, by default) are sent one after the
// other, in order, each after the previous one was answered; records of
// different keys go concurrently. So a receiver sees each device's
// records in order, and records of different devices interleaved.
//
// # Errors
//
// A 2xx answer delivers the record. A network error, a timeout, a 5xx, a
// 408 or a 429 is retryable: Send returns an error and the bridge.Runner
// retries the whole batch with backoff (records already answered 2xx may
// be sent again: at least once). Any other answer (4xx, 3xx: redirects
// are not followed) is permanent: the record is not retried, and when no
// retryable failure happened Send returns a bridge.Permanent error, which
// the runner counts for the batch as failed and dropped ("permanent").
//
// # Signature
//
// With a secret, each request carries SignatureHeader:
// "sha256=" + hex(HMAC-SHA256(secret, body)), computed over the exact body
// bytes sent; Verify checks it on the receiving side (docs/bridges.md).
package webhook
