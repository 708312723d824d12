package bridge

import (
	"context"
	"errors"
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
	// acknowledged (nil), or with an error: a Permanent one when retrying
	// cannot help, any other to have the Runner retry the whole batch.
	// It must return when ctx is done. The Runner calls Send from one
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
