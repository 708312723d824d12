package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

// Header is one record header (a Kafka header, an HTTP header, …).
type Header struct {
	Key   string
	Value []byte
}

// Record is one unit of delivery to a sink, already rendered from a rule
// output: where it goes, its key, value, headers and timestamp. What each
// field means is the sink's business (Topic is a Kafka topic, a Redis
// channel, …). Records are immutable once enqueued.
type Record struct {
	// Topic is the destination inside the sink.
	Topic string
	// Key is the record key (nil: none).
	Key []byte
	// Value is the record body.
	Value []byte
	// Headers are sent in order.
	Headers []Header
	// Time is the record timestamp.
	Time time.Time
}

// size is the record's approximate memory footprint, for the byte bounds.
func (r *Record) size() int {
	n := 64 + len(r.Topic) + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += 16 + len(h.Key) + len(h.Value)
	}
	return n
}

// Sink delivers records to an external system.
type Sink interface {
	// Send delivers recs, in order, and returns when all of them were
	// answered: nil when every record was acknowledged; a *BatchError
	// when the records had different fates (one error, or nil, per
	// record); otherwise one error for every record — a Permanent one
	// when retrying cannot help, any other to have the Runner send the
	// records again. It must return when ctx is done (the records not yet
	// answered then fail with ctx's error). The Runner calls Send from one
	// goroutine at a time and owns recs (the sink must not keep them).
	Send(ctx context.Context, recs []Record) error
	// Close releases the sink's connections; Send is not called after.
	Close() error
}

// HealthChecker is implemented by sinks that can check their connection
// without sending (Kafka: a metadata request). The Runner calls it at
// start and while idle, for the status.
type HealthChecker interface {
	// Health returns nil when the external system answers.
	Health(ctx context.Context) error
}

// StatusReporter is implemented by sinks that learn about their
// connection between sends (a failed dial, a dropped connection): the
// Runner gives them a function to report it at once, so the status shows
// the real state and error without waiting for a send to time out.
type StatusReporter interface {
	// ReportStatus is called once, before Start's first send, with the
	// function to call: nil when the connection is up, the error that
	// took it down otherwise. report is safe for concurrent use and does
	// not block.
	ReportStatus(report func(err error))
}

// BatchError is what Sink.Send (or a Pipeline's done) returns when the
// records of a batch did not all have the same fate: Errs[i] is nil for a
// record that was delivered, a Permanent error for one that can never
// be, and any other error for one to send again. The Runner sends again
// only the records that failed with a retryable error, so what succeeded
// is not repeated.
type BatchError struct {
	// Errs holds one entry per record of the batch, in order.
	Errs []error
}

// Error summarises the failures.
func (e *BatchError) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	if first == nil {
		return "bridge: batch delivered"
	}
	return fmt.Sprintf("%d of %d records failed, first: %v", n, len(e.Errs), first)
}

// Unwrap returns the record errors.
func (e *BatchError) Unwrap() []error { return e.Errs }

// recordErrors returns the error of each of n records sent with result
// err (nil when all succeeded).
func recordErrors(err error, n int) []error {
	if err == nil {
		return nil
	}
	var be *BatchError
	if errors.As(err, &be) && len(be.Errs) == n {
		return be.Errs
	}
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// Source feeds messages from an external system into the hub (Kafka →
// MQTT).
type Source interface {
	// Run consumes until ctx is done, calling publish for each message;
	// it returns nil when ctx is done, or an error that made it stop (the
	// caller restarts it after a backoff). A source acknowledges (commits)
	// an input only after publish returned nil for it, so delivery is at
	// least once. publish returns an error wrapped with Permanent for a
	// message that can never be published (a bad topic); the source skips
	// and counts it.
	Run(ctx context.Context, publish func(*msg.Message) error) error
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the Runner drops the batch instead of
// retrying it. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err (or an error it wraps) was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
