package shadow

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/logging"

	"github.com/iothub-dev/iothub/internal/device/thing"
	"github.com/iothub-dev/iothub/msg"
)

// Options configure a Service.
type Options struct {
	// Store keeps the shadows (required).
	Store Store
	// Publisher publishes the responses (required).
	Publisher thing.Publisher
	// Limits bound documents (zero: AWS's).
	Limits Limits
	// Workers process requests, each for its share of the things
	// (default 4). QueueSize bounds each worker's queue (default 1024);
	// an MQTT request that finds it full is rejected with 429.
	Workers, QueueSize int
	Logger             *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Stats are a Service's counters.
type Stats struct {
	// Accepted and Rejected count answered requests, MQTT and API.
	Accepted, Rejected uint64
	// Busy counts MQTT requests rejected with 429 because a worker's
	// queue was full.
	Busy uint64
}

// Service is the Device Shadow service: it answers the requests devices
// publish on $aws/things/{thing}/shadow/… and the HTTP API's.
type Service struct {
	o       Options
	log     *slog.Logger
	seed    maphash.Seed
	queues  []chan *request
	wg      sync.WaitGroup
	mu      sync.RWMutex // guards closed against sends on closed queues
	closed  bool
	stats   struct{ accepted, rejected, busy atomic.Uint64 }
	busyLog logging.Limiter // the "queue full" line, rate-limited
}

// op is a shadow operation.
type op uint8

const (
	opGet op = iota + 1
	opUpdate
	opDelete
)

var opNames = map[string]op{"get": opGet, "update": opUpdate, "delete": opDelete}

// request is one operation waiting for its worker.
type request struct {
	op          op
	thing, name string
	payload     []byte
	// done receives the outcome of an API request; nil for MQTT, whose
	// outcome is published.
	done chan outcome
}

// New returns a started Service; Close stops it.
func New(o Options) *Service {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Limits = o.Limits.withDefaults()
	s := &Service{o: o, log: o.Logger.With("component", "shadow"), seed: maphash.MakeSeed()}
	for range o.Workers {
		q := make(chan *request, o.QueueSize)
		s.queues = append(s.queues, q)
		s.wg.Add(1)
		go s.work(q)
	}
	return s
}

// Close stops taking requests and waits for the queued ones, bounded by
// ctx.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, q := range s.queues {
			close(q)
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shadow service: %w", ctx.Err())
	}
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{Accepted: s.stats.accepted.Load(), Rejected: s.stats.rejected.Load(), Busy: s.stats.busy.Load()}
}

// parseRequest splits the part of a shadow topic after "shadow/": "get",
// "update", "delete", or "name/{name}/" before one of them.
func parseRequest(rest string) (name string, o op, ok bool) {
	if r, named := strings.CutPrefix(rest, "name/"); named {
		n, after, found := strings.Cut(r, "/")
		if !found || thing.ValidName(n, thing.MaxShadowNameLen) != nil {
			return "", 0, false
		}
		name, rest = n, after
	}
	if o, ok = opNames[rest]; !ok {
		return "", 0, false
	}
	return name, o, true
}

// HandlesTopic reports whether t (parsed) is a shadow request topic.
func (s *Service) HandlesTopic(t thing.Topic) bool {
	_, _, ok := parseRequest(t.Rest)
	return ok
}

// HandleMessage queues a request published on a shadow request topic; a
// full queue is answered at once with 429 on /rejected.
func (s *Service) HandleMessage(t thing.Topic, m *msg.Message) {
	name, o, ok := parseRequest(t.Rest)
	if !ok {
		return
	}
	r := &request{op: o, thing: t.Thing, name: name, payload: m.Payload}
	if s.enqueue(context.Background(), r, false) {
		return
	}
	s.stats.busy.Add(1)
	s.stats.rejected.Add(1)
	s.logBusy(t.Thing)
	tok, _ := ParseToken(m.Payload)
	s.publishRejected(r, outcome{err: errBusy, token: tok})
}

// logBusy logs a full queue at most once a second (the rest at debug).
func (s *Service) logBusy(thingName string) {
	s.busyLog.Warn(s.log, "shadow request queue full: answered 429 (devices.shadow.queue_size)", "thing", thingName)
}

// enqueue hands r to its thing's worker: without wait it fails at once
// when the queue is full; with wait it waits for room, bounded by ctx.
func (s *Service) enqueue(ctx context.Context, r *request, wait bool) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false
	}
	q := s.queues[maphash.String(s.seed, r.thing)%uint64(len(s.queues))]
	if !wait {
		select {
		case q <- r:
			return true
		default:
			return false
		}
	}
	select {
	case q <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// maxBatch bounds the requests one worker commits with one write.
const maxBatch = 256

// work processes one queue until it is closed: it takes what is queued
// (up to maxBatch), computes every outcome, stores the changed shadows
// with one write (one fsync), then answers.
func (s *Service) work(q chan *request) {
	defer s.wg.Done()
	batch := make([]*request, 0, maxBatch)
	for r := range q {
		batch = append(batch[:0], r)
	drain:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-q:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.processBatch(batch)
	}
}

// processBatch runs requests in order, each seeing the shadows the ones
// before it changed, stores the changes at once, and answers. When the
// store found a shadow changed elsewhere (another node of a cluster) and
// wrote nothing, the batch is computed again on what is stored now.
func (s *Service) processBatch(batch []*request) {
	var outs []outcome
	for attempt := 1; ; attempt++ {
		var err error
		if outs, err = s.computeBatch(batch); errors.Is(err, ErrConflict) && attempt < maxConflictRetries {
			s.log.Debug("shadows changed meanwhile; computing the batch again", "error", err)
			continue
		}
		if err != nil {
			s.log.Error("writing shadows failed", "error", err)
			for i := range outs {
				if outs[i].write != nil && outs[i].err == nil {
					outs[i] = outcome{err: errInternal, token: outs[i].token}
				}
			}
		}
		break
	}
	for i, r := range batch {
		s.answer(r, s.count(outs[i]))
	}
}

// maxConflictRetries bounds how often a batch is computed when its write
// keeps finding shadows changed elsewhere.
const maxConflictRetries = 5

// computeBatch computes the outcomes of batch and stores the changed
// shadows.
func (s *Service) computeBatch(batch []*request) ([]outcome, error) {
	outs := make([]outcome, len(batch))
	latest := map[[2]string]*Doc{}
	var writes []Write
	now := s.o.Now().Unix()
	for i, r := range batch {
		k := [2]string{r.thing, r.name}
		doc, ok := latest[k]
		if ok {
			doc = doc.clone()
		} else {
			var err error
			if doc, err = s.o.Store.Get(r.thing, r.name); err != nil && !errors.Is(err, ErrNotFound) {
				s.log.Error("reading a shadow failed", "thing", r.thing, "shadow", r.name, "error", err)
				outs[i] = outcome{err: errInternal}
				continue
			}
		}
		outs[i] = s.compute(r, doc, now)
		if w := outs[i].write; outs[i].err == nil && w != nil {
			writes = append(writes, Write{Thing: r.thing, Name: r.name, Doc: w, Prev: outs[i].prev})
			latest[k] = w
		}
	}
	if len(writes) == 0 {
		return outs, nil
	}
	if err := s.o.Store.Put(writes); err != nil {
		return outs, fmt.Errorf("%d shadows: %w", len(writes), err)
	}
	return outs, nil
}

// compute runs one request on the shadow doc (nil: none).
func (s *Service) compute(r *request, doc *Doc, now int64) outcome {
	switch r.op {
	case opGet:
		return doGet(doc, r.thing, r.name, r.payload, now)
	case opUpdate:
		return doUpdate(doc, r.payload, s.o.Limits, now)
	}
	return doDelete(doc, r.thing, r.name, r.payload, now)
}

// answer publishes an outcome and hands it to an API caller.
func (s *Service) answer(r *request, out outcome) {
	if out.err == nil {
		s.publishAll(r, out)
	} else if r.done == nil {
		s.publishRejected(r, out)
	}
	if r.done != nil {
		r.done <- out
	}
}

func (s *Service) count(out outcome) outcome {
	if out.err != nil {
		s.stats.rejected.Add(1)
	} else {
		s.stats.accepted.Add(1)
	}
	return out
}

// topicPrefix is "$aws/things/{thing}/shadow/" with "name/{name}/" for a
// named shadow.
func topicPrefix(thingName, name string) string {
	p := thing.Prefix + thingName + "/shadow/"
	if name != "" {
		p += "name/" + name + "/"
	}
	return p
}

// publishAll publishes an accepted request's documents; an API get is not
// published (nobody asked on MQTT).
func (s *Service) publishAll(r *request, out outcome) {
	for _, m := range out.messages {
		if r.done != nil && m.suffix == "get/accepted" {
			continue
		}
		s.publish(topicPrefix(r.thing, r.name)+m.suffix, m.payload)
	}
}

// publishRejected publishes the rejection of an MQTT request.
func (s *Service) publishRejected(r *request, out outcome) {
	b, err := encode(errorDoc{Code: out.err.Code, Message: out.err.Message, Timestamp: s.o.Now().Unix(), ClientToken: out.token})
	if err != nil {
		return
	}
	opName := map[op]string{opGet: "get", opUpdate: "update", opDelete: "delete"}[r.op]
	s.publish(topicPrefix(r.thing, r.name)+opName+"/rejected", b)
}

func (s *Service) publish(topic string, payload []byte) {
	if err := thing.Publish(s.o.Publisher, topic, payload, "shadow"); err != nil {
		s.log.Warn("publishing a shadow response failed", "topic", topic, "error", err)
	}
}

// call runs an API request on its worker and waits for the outcome.
func (s *Service) call(ctx context.Context, o op, thingName, name string, payload []byte) ([]byte, error) {
	if err := thing.ValidName(thingName, thing.MaxNameLen); err != nil {
		return nil, &Error{400, err.Error()}
	}
	if name != "" {
		if err := thing.ValidName(name, thing.MaxShadowNameLen); err != nil {
			return nil, &Error{400, err.Error()}
		}
	}
	r := &request{op: o, thing: thingName, name: name, payload: payload, done: make(chan outcome, 1)}
	if !s.enqueue(ctx, r, true) {
		return nil, errBusy
	}
	select {
	case out := <-r.done:
		if out.err != nil {
			return nil, out.err
		}
		return out.accepted, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("shadow %s: %w", thingName, ctx.Err())
	}
}

// Get returns the shadow document of thing (name "" for the classic
// shadow) as /get/accepted shows it, or an *Error (404).
func (s *Service) Get(ctx context.Context, thingName, name string) ([]byte, error) {
	return s.call(ctx, opGet, thingName, name, nil)
}

// Update applies a request state document, as a publish on /update would,
// publishes /update/accepted, /update/delta and /update/documents, and
// returns the accepted document, or an *Error.
func (s *Service) Update(ctx context.Context, thingName, name string, payload []byte) ([]byte, error) {
	return s.call(ctx, opUpdate, thingName, name, payload)
}

// Delete deletes the shadow, publishes /delete/accepted and returns that
// document, or an *Error (404).
func (s *Service) Delete(ctx context.Context, thingName, name string) ([]byte, error) {
	return s.call(ctx, opDelete, thingName, name, nil)
}

// Names lists thing's named shadows: up to limit, after the name after.
func (s *Service) Names(thingName, after string, limit int) ([]string, bool, error) {
	return s.o.Store.Names(thingName, after, limit)
}
