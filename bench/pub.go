package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

// PubOptions configures `iothub bench pub`: Clients publishers, each
// publishing to its own topic at a rate, until Count messages each or
// Duration, whichever comes first.
type PubOptions struct {
	ClientOptions
	// Clients is the number of publishers.
	Clients int
	// Rate is the messages per second of each client; TotalRate, when set,
	// is spread over the clients instead. 0 for both: as fast as the broker
	// takes them.
	Rate      float64
	TotalRate float64
	// Count is the messages each client publishes (0: no count limit).
	Count int
	// Duration bounds the run; it must be positive.
	Duration time.Duration
	// QoS of the publishes.
	QoS byte
	// Retain sets the retain flag.
	Retain bool
	// Topic is the topic template: %i is the client index, %c its id.
	Topic string
	// Size is the payload size of generated payloads; they start with the
	// send time (StampLen bytes) so `bench sub` can measure latency.
	Size int
	// Payload, when set, is a payload template used instead: %i, %c, %n
	// (message sequence number), %t (Unix time in ms) and %r (a random
	// number 0-99) are filled in for each message.
	Payload string
	// Progress receives a line every second (may be nil).
	Progress io.Writer
}

// PubResult is the outcome of a publish run.
type PubResult struct {
	Clients   int    `json:"clients"`
	Published uint64 `json:"published"`
	// Acked counts the QoS 1/2 messages the broker acknowledged with
	// success (PUBACK or PUBCOMP): what it promised not to lose.
	Acked      uint64        `json:"acked"`
	Errors     uint64        `json:"errors"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	RatePerSec float64       `json:"rate_per_sec"`
	FirstError string        `json:"first_error,omitempty"`
}

// ErrUnbounded is returned for a run without a duration.
var ErrUnbounded = errors.New("bench: set a duration: every run is bounded in time")

func (o *PubOptions) validate() error {
	switch {
	case o.Clients <= 0:
		return fmt.Errorf("bench pub: clients %d: must be positive", o.Clients)
	case o.Duration <= 0:
		return ErrUnbounded
	case o.QoS > 2:
		return fmt.Errorf("bench pub: qos %d: must be 0, 1 or 2", o.QoS)
	case o.Topic == "":
		return fmt.Errorf("bench pub: topic is empty")
	case o.Rate < 0 || o.TotalRate < 0 || o.Size < 0:
		return fmt.Errorf("bench pub: rate and size must not be negative")
	}
	return nil
}

// RunPub connects the publishers, runs them and disconnects them.
func RunPub(ctx context.Context, o PubOptions) (PubResult, error) {
	o.defaults()
	if err := o.validate(); err != nil {
		return PubResult{}, err
	}
	rate := o.Rate
	if o.TotalRate > 0 {
		rate = o.TotalRate / float64(o.Clients)
	}
	clients, err := connectAll(ctx, &o.ClientOptions, o.Clients, func(i int) string { return o.ClientPrefix + strconv.Itoa(i) }, nil)
	if err != nil {
		return PubResult{}, fmt.Errorf("bench pub: %w", err)
	}
	defer closeAll(clients)
	runCtx, cancel := deadline(ctx, o.Duration)
	defer cancel()
	var sent, failed atomic.Uint64
	start := time.Now()
	last := uint64(0)
	stop := ticker(o.Progress, start, func(el time.Duration) string {
		n := sent.Load()
		line := fmt.Sprintf("pub: %4.0fs  sent %d  rate %d/s  errors %d", el.Seconds(), n, n-last, failed.Load())
		last = n
		return line
	})
	finished := make(chan struct{})
	defer close(finished)
	go unblockAtEnd(runCtx, finished, clients)
	firstErr := runEach(runCtx, clients, &failed, func(i int, c *client) error {
		return publishLoop(runCtx, &o, i, c, rate, &sent)
	})
	elapsed := time.Since(start)
	stop()
	res := PubResult{Clients: o.Clients, Published: sent.Load(), Errors: failed.Load(), Elapsed: elapsed,
		RatePerSec: float64(sent.Load()) / elapsed.Seconds(), FirstError: firstErr}
	for _, c := range clients {
		res.Acked += c.acked.Load()
	}
	return res, nil
}

// unblockAtEnd ends writes blocked on a full socket when ctx ends before
// finished is closed, so that --duration bounds the run even when the
// broker stops reading.
func unblockAtEnd(ctx context.Context, finished <-chan struct{}, clients []*client) {
	select {
	case <-finished:
	case <-ctx.Done():
		for _, c := range clients {
			_ = c.nc.SetWriteDeadline(time.Now())
		}
	}
}

// publishLoop publishes client i's messages at rate (0: unpaced).
func publishLoop(ctx context.Context, o *PubOptions, i int, c *client, rate float64, sent *atomic.Uint64) error {
	topic := expand(o.Topic, i, c.id)
	payload := make([]byte, max(o.Size, 0))
	tick := pacerF(rate)
	paced := rate > 0
	for n := 0; o.Count == 0 || n < o.Count; n++ {
		if ctx.Err() != nil {
			break
		}
		if !tick(ctx) {
			break
		}
		if o.Payload != "" {
			payload = fillTemplate(payload[:0], o.Payload, i, c.id, n)
		} else if len(payload) >= StampLen {
			stamp(payload, time.Now())
		}
		// Unpaced publishers let the buffer gather a few messages per
		// write; paced ones flush each message at once (latency).
		flush := paced || n%16 == 15
		if err := c.publish(ctx, topic, payload, o.QoS, o.Retain, flush); err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		sent.Add(1)
	}
	_ = c.flush()
	if o.QoS > 0 {
		c.waitAcks(o.Inflight, 5*time.Second)
	}
	return nil
}

// fillTemplate appends tmpl to dst with the placeholders filled in.
func fillTemplate(dst []byte, tmpl string, i int, clientID string, n int) []byte {
	for k := 0; k < len(tmpl); k++ {
		ch := tmpl[k]
		if ch != '%' || k+1 == len(tmpl) {
			dst = append(dst, ch)
			continue
		}
		k++
		switch tmpl[k] {
		case 'i':
			dst = strconv.AppendInt(dst, int64(i), 10)
		case 'c':
			dst = append(dst, clientID...)
		case 'n':
			dst = strconv.AppendInt(dst, int64(n), 10)
		case 't':
			dst = strconv.AppendInt(dst, time.Now().UnixMilli(), 10)
		case 'r':
			dst = strconv.AppendInt(dst, int64(rand.IntN(100)), 10) //nolint:gosec // load-test data, not a secret
		case '%':
			dst = append(dst, '%')
		default:
			dst = append(dst, '%', tmpl[k])
		}
	}
	return dst
}

// pacerF returns a function that waits for the next send time at rate per
// second (returns at once for rate 0), or returns false when ctx ends.
func pacerF(rate float64) func(ctx context.Context) bool {
	if rate <= 0 {
		return func(context.Context) bool { return true }
	}
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	var t *time.Timer
	return func(ctx context.Context) bool {
		next = next.Add(interval)
		d := time.Until(next)
		if d <= 0 {
			return true
		}
		if t == nil {
			t = time.NewTimer(d)
		} else {
			t.Reset(d)
		}
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
}
