package upstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/time/rate"

	"github.com/iothub-dev/iothub/bridge"
)

// The user properties that carry a forwarded message's identity. The
// centre reads them (Dedup); the edge writes them and strips copies that
// a device may have set.
const (
	// PropOrigin is the edge's name.
	PropOrigin = "iothub-origin"
	// PropSeq is "<epoch>:<n>": the queue's epoch (random, new at every
	// start of the stream) and the message's sequence number in it,
	// counting from 1.
	PropSeq = "iothub-seq"
	// hdrRetain is a record header (not sent as a property) that carries
	// the message's retain flag through the queue.
	hdrRetain = "\x00retain"
)

// stream is one durable queue of the upstream link: records are numbered
// as they are enqueued and sent in order by the shared bridge engine
// (bridge.Runner) through its sink.
type stream struct {
	name     string
	priority int
	origin   string
	epoch    string
	ttl      time.Duration

	mu     sync.Mutex // serialises numbering with Enqueue, so numbers follow queue order
	seq    uint64
	runner *bridge.Runner

	sink *sink
}

// newEpoch returns 16 random hex digits.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// enqueue numbers rec and queues it. It never waits for the link.
func (s *stream) enqueue(rec bridge.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	rec.Headers = append(rec.Headers,
		bridge.Header{Key: PropOrigin, Value: []byte(s.origin)},
		bridge.Header{Key: PropSeq, Value: []byte(s.epoch + ":" + strconv.FormatUint(s.seq, 10))})
	if err := s.runner.Enqueue(rec); err != nil {
		return fmt.Errorf("upstream stream %s: %w", s.name, err)
	}
	s.sink.noteEnqueued(rec.Time)
	return nil
}

// limits are the link-wide rate and bandwidth caps and the priority gate.
type limits struct {
	msgs  *rate.Limiter // nil: no cap
	bytes *rate.Limiter // nil: no cap
	// streams, to find backlogs of higher priority.
	streams []*stream
}

// higherBacklog reports whether a stream of higher priority than p has
// records waiting.
func (lm *limits) higherBacklog(p int) bool {
	for _, s := range lm.streams {
		if s.priority <= p || s.runner == nil {
			continue
		}
		if m := s.runner.Metrics(); m.Queued+m.InFlight > 0 {
			return true
		}
	}
	return false
}

// wait blocks until one message of n bytes may be sent.
func (lm *limits) wait(ctx context.Context, n int) error {
	if lm.msgs != nil {
		if err := lm.msgs.Wait(ctx); err != nil {
			return fmt.Errorf("%w: rate limit: %w", ErrLinkDown, err)
		}
	}
	if lm.bytes != nil {
		if err := lm.bytes.WaitN(ctx, min(n, lm.bytes.Burst())); err != nil {
			return fmt.Errorf("%w: bandwidth limit: %w", ErrLinkDown, err)
		}
	}
	return nil
}

// sink sends a stream's records over the link: a bridge.Sink.
type sink struct {
	st   *stream
	link *Link
	lim  *limits

	expired, refused, resent atomic.Uint64
	acked                    atomic.Uint64
	bytesSent                atomic.Uint64
	oldest                   atomic.Int64 // unix nanos of the oldest record not yet acknowledged (0: none known)
	lastSeqSent              atomic.Uint64
}

// errPriority is the error of a send that waited, until its timeout,
// for a stream of higher priority to drain.
var errPriority = errors.New("upstream: a stream of higher priority has a backlog")

// noteEnqueued remembers the time of the oldest waiting record.
func (k *sink) noteEnqueued(t time.Time) {
	k.oldest.CompareAndSwap(0, t.UnixNano())
}

// Send publishes recs in order, several in flight, and returns when the
// centre acknowledged every one: records older than the TTL are dropped
// (counted); a record the centre refuses (PUBACK reason 0x80 or more)
// fails for good (bridge.Permanent: counted, dead-lettered or dropped by
// the runner); a lost connection fails the first record not acknowledged
// and every later one, which the runner sends again in order (the centre
// drops what it already routed). Records are numbered (PropSeq).
func (k *sink) Send(ctx context.Context, recs []bridge.Record) error {
	if len(recs) > 0 {
		k.oldest.Store(recs[0].Time.UnixNano())
	}
	// Priority is decided once the link is up (a batch that waited for
	// the link through a cut must not overtake what queued meanwhile in
	// a stream of higher priority), then for each batch.
	if _, _, err := k.link.client(ctx); err != nil {
		return err
	}
	for k.lim.higherBacklog(k.st.priority) {
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", errPriority, ctx.Err())
		case <-t.C:
		}
	}
	pds := make([]pending, len(recs))
	sent := make([]bool, len(recs))
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(recs))
		}
		errs[i] = err
	}
	stop := len(recs) // the first record not sent (or not acknowledged): it and every later one go again
	var stopErr error
	for i := range recs {
		r := &recs[i]
		if k.st.ttl > 0 && !r.Time.IsZero() && time.Since(r.Time) > k.st.ttl {
			k.expired.Add(1)
			continue
		}
		p := toPublish(r)
		if err := k.lim.wait(ctx, len(p.Payload)+len(p.Topic)); err != nil {
			stop, stopErr = i, err
			break
		}
		pd, err := k.link.publishAsync(ctx, p)
		if err != nil {
			stop, stopErr = i, err
			break
		}
		if seqOf(r) <= k.lastSeqSent.Load() {
			k.resent.Add(1)
		}
		pds[i], sent[i] = pd, true
	}
	for i := 0; i < stop; i++ {
		if !sent[i] {
			continue
		}
		err := pds[i].wait(ctx)
		var re *RefusedError
		switch {
		case err == nil:
			k.acked.Add(1)
			k.bytesSent.Add(uint64(len(recs[i].Value) + len(recs[i].Topic)))
			k.lastSeqSent.Store(max(k.lastSeqSent.Load(), seqOf(&recs[i])))
		case errors.As(err, &re):
			k.refused.Add(1)
			fail(i, bridge.Permanent(err))
		default:
			stop, stopErr = i, err // ends the loop
		}
	}
	if stop < len(recs) {
		// In order: what follows a record that must go again goes again
		// too (the centre drops what it already routed).
		for i := stop; i < len(recs); i++ {
			fail(i, stopErr)
		}
	}
	if errs != nil {
		return &bridge.BatchError{Errs: errs}
	}
	k.oldest.Store(0)
	return nil
}

// seqOf returns the record's sequence number (0 if it has none).
func seqOf(r *bridge.Record) uint64 {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == PropSeq {
			v := r.Headers[i].Value
			for j := len(v) - 1; j >= 0; j-- {
				if v[j] == ':' {
					n, _ := strconv.ParseUint(string(v[j+1:]), 10, 64)
					return n
				}
			}
		}
	}
	return 0
}

// toPublish maps a record to the QoS 1 PUBLISH sent up: headers become
// user properties, in order, except the retain flag.
func toPublish(r *bridge.Record) *paho.Publish {
	p := &paho.Publish{Topic: r.Topic, QoS: 1, Payload: r.Value, Properties: &paho.PublishProperties{}}
	for _, h := range r.Headers {
		if h.Key == hdrRetain {
			p.Retain = true
			continue
		}
		p.Properties.User.Add(h.Key, string(h.Value))
	}
	return p
}

// Health reports whether the link is up.
func (k *sink) Health(context.Context) error {
	if k.link.Connected() {
		return nil
	}
	st := k.link.Status()
	if st.LastError != "" {
		return fmt.Errorf("%w: %s", ErrLinkDown, st.LastError)
	}
	return ErrLinkDown
}

// Close does nothing: the link is shared and closed by the Edge.
func (k *sink) Close() error { return nil }

var (
	_ bridge.Sink          = (*sink)(nil)
	_ bridge.HealthChecker = (*sink)(nil)
)
