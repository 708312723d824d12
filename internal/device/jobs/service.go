package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/internal/device/thing"
	"github.com/iothub-dev/iothub/msg"
	"github.com/iothub-dev/iothub/storage"
)

// GroupResolver returns the things of a group; *registry.Registry
// implements it.
type GroupResolver interface {
	Members(group string) ([]string, error)
}

// Options configure a Service.
type Options struct {
	// Store keeps jobs and executions (required).
	Store storage.Store
	// Publisher publishes responses and notifications (required).
	Publisher thing.Publisher
	// Groups resolves a job's groups (nil: jobs cannot target groups).
	Groups GroupResolver
	// Render rewrites a job document each time it is sent to a device
	// (the OTA placeholders; nil: sent as stored).
	Render func(doc json.RawMessage) json.RawMessage
	// MaxDocumentBytes bounds a job document (default 32 KiB).
	MaxDocumentBytes int
	// SweepInterval is how often rollouts and timeouts are checked
	// (default 5s). QueueSize bounds the device requests waiting (1024).
	SweepInterval time.Duration
	QueueSize     int
	Logger        *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service is the Jobs service: jobs created through the API, rolled out
// to things as executions that devices run through the MQTT topics of
// AWS IoT Jobs.
type Service struct {
	o   Options
	log *slog.Logger

	mu    sync.Mutex
	jobs  map[string]*Job
	execs map[string]map[string]*Execution // thing → job id → execution

	queue chan *deviceRequest
	stats struct{ accepted, rejected, throttled atomic.Uint64 }
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// deviceRequest is a request a device published.
type deviceRequest struct {
	t       thing.Topic
	payload []byte
}

// out is one message to publish once the lock is released.
type out struct {
	topic   string
	payload []byte
}

// Store key prefixes: jobs and executions ("job/e/{thing}/{job}").
const (
	prefixJob  = "job/j/"
	prefixExec = "job/e/"
)

// New loads the jobs of o.Store and starts the service.
func New(o Options) (*Service, error) {
	if o.MaxDocumentBytes <= 0 {
		o.MaxDocumentBytes = 32 << 10
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = 5 * time.Second
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
	s := &Service{o: o, log: o.Logger.With("component", "jobs"), jobs: map[string]*Job{},
		execs: map[string]map[string]*Execution{}, queue: make(chan *deviceRequest, o.QueueSize), stop: make(chan struct{})}
	if err := s.load(); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.run()
	return s, nil
}

// load reads the stored jobs and executions.
func (s *Service) load() error {
	err := s.o.Store.Scan([]byte(prefixJob), func(_, v []byte) error {
		var j Job
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("corrupt job record: %w", err)
		}
		s.jobs[j.ID] = &j
		return nil
	})
	if err == nil {
		err = s.o.Store.Scan([]byte(prefixExec), func(_, v []byte) error {
			var e Execution
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("corrupt job execution record: %w", err)
			}
			s.thingExecs(e.ThingName)[e.JobID] = &e
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("jobs: load: %w", err)
	}
	return nil
}

func (s *Service) thingExecs(name string) map[string]*Execution {
	m := s.execs[name]
	if m == nil {
		m = map[string]*Execution{}
		s.execs[name] = m
	}
	return m
}

// Close stops the service, bounded by ctx.
func (s *Service) Close(ctx context.Context) error {
	s.once.Do(func() { close(s.stop) })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jobs service: %w", ctx.Err())
	}
}

// run serves device requests and sweeps rollouts and timeouts.
func (s *Service) run() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case r := <-s.queue:
			s.serve(r)
		case <-t.C:
			s.Tick()
		}
	}
}

// HandlesTopic reports whether t is a jobs request topic: anything under
// jobs/ but the service's own answers and notifications.
func (s *Service) HandlesTopic(t thing.Topic) bool {
	r := t.Rest
	return r != "" && r != "notify" && r != "notify-next" &&
		!strings.HasSuffix(r, "/accepted") && !strings.HasSuffix(r, "/rejected")
}

// HandleMessage queues a device request; a full queue is answered with
// RequestThrottled.
func (s *Service) HandleMessage(t thing.Topic, m *msg.Message) {
	select {
	case s.queue <- &deviceRequest{t: t, payload: m.Payload}:
	default:
		s.stats.throttled.Add(1)
		s.publish([]out{s.rejected(t, "", rejection{code: codeThrottled, message: "too many requests queued"})})
	}
}

// Stats are the service's counters of device requests.
type Stats struct {
	// Accepted and Rejected count answers; Throttled the requests
	// refused because the queue was full (also counted in Rejected).
	Accepted, Rejected, Throttled uint64
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{Accepted: s.stats.accepted.Load(), Rejected: s.stats.rejected.Load(), Throttled: s.stats.throttled.Load()}
}

// publish sends messages; it is called without the lock held.
func (s *Service) publish(msgs []out) {
	for _, m := range msgs {
		switch {
		case strings.HasSuffix(m.topic, "/accepted"):
			s.stats.accepted.Add(1)
		case strings.HasSuffix(m.topic, "/rejected"):
			s.stats.rejected.Add(1)
		}
		if err := thing.Publish(s.o.Publisher, m.topic, m.payload, "jobs"); err != nil {
			s.log.Warn("publishing a jobs message failed", "topic", m.topic, "error", err)
		}
	}
}

func (s *Service) now() int64 { return s.o.Now().Unix() }

// encode marshals v without HTML escaping: a URL's "&" stays "&", as AWS
// sends it, for devices with small JSON parsers.
func encode(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{}`)
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// rejected builds the …/rejected answer of a request on t.
func (s *Service) rejected(t thing.Topic, token string, r rejection) out {
	return out{topic: thing.Prefix + t.Thing + "/jobs/" + t.Rest + "/rejected",
		payload: encode(errorDoc{Code: r.code, Message: r.message, ClientToken: token, Timestamp: s.now(), ExecutionState: r.state})}
}

// accepted builds the …/accepted answer of a request on t.
func accepted(t thing.Topic, v any) out {
	return out{topic: thing.Prefix + t.Thing + "/jobs/" + t.Rest + "/accepted", payload: encode(v)}
}

// persist writes jobs and executions in one synced batch.
func (s *Service) persist(jobs []*Job, execs []*Execution) {
	var b storage.Batch
	for _, j := range jobs {
		b.Put([]byte(prefixJob+j.ID), encode(j))
	}
	for _, e := range execs {
		b.Put([]byte(prefixExec+e.ThingName+"/"+e.JobID), encode(e))
	}
	if b.Len() == 0 {
		return
	}
	if err := s.o.Store.Apply(&b, true); err != nil {
		s.log.Error("writing jobs failed", "error", err)
	}
}

// pending returns thing's pending executions in AWS's order.
func (s *Service) pending(name string) []*Execution {
	var p []*Execution
	for _, e := range s.execs[name] {
		if !terminal(e.Status) {
			p = append(p, e)
		}
	}
	sortPending(p)
	return p
}

// view is a thing's pending list as notifications compare it.
type view struct {
	ids  string // job ids and statuses of the pending list, in order
	next string // the next job id
}

func (s *Service) viewOf(name string) view {
	var v view
	for i, e := range s.pending(name) {
		if i == 0 {
			v.next = e.JobID
		}
		v.ids += e.JobID + "\x00" + e.Status + "\x00"
	}
	return v
}

// maxListNotification is how many pending executions a jobs/notify
// message lists at most (AWS's ListNotification: 15).
const maxListNotification = 15

// notifications returns the notify and notify-next messages of thing
// when its pending list changed since before (an execution added,
// removed, or moved to another status: AWS's ListNotification) or its
// first entry did (NextNotification).
func (s *Service) notifications(name string, before view) []out {
	after := s.viewOf(name)
	var msgs []out
	now := s.now()
	if after.ids != before.ids {
		jobs := map[string][]summary{}
		pending := s.pending(name)
		for _, e := range pending[:min(len(pending), maxListNotification)] {
			jobs[e.Status] = append(jobs[e.Status], summaryOf(e))
		}
		msgs = append(msgs, out{thing.Prefix + name + "/jobs/notify", encode(notifyDoc{Timestamp: now, Jobs: jobs})})
	}
	if after.next != before.next {
		doc := executionDoc{Timestamp: now}
		if after.next != "" {
			doc.Execution = s.executionOf(s.execs[name][after.next], true)
		}
		msgs = append(msgs, out{thing.Prefix + name + "/jobs/notify-next", encode(doc)})
	}
	return msgs
}

// executionOf returns e as the device API shows it.
func (s *Service) executionOf(e *Execution, withDoc bool) *execution {
	x := &execution{JobID: e.JobID, ThingName: e.ThingName, Status: e.Status, StatusDetails: e.StatusDetails,
		QueuedAt: e.QueuedAt, StartedAt: e.StartedAt, LastUpdatedAt: e.LastUpdatedAt,
		VersionNumber: e.VersionNumber, ExecutionNumber: e.ExecutionNumber}
	if withDoc {
		if j := s.jobs[e.JobID]; j != nil {
			x.JobDocument = s.render(j.Document)
		}
	}
	return x
}

func (s *Service) render(doc json.RawMessage) json.RawMessage {
	if s.o.Render == nil {
		return doc
	}
	return s.o.Render(doc)
}

// sortedIDs returns the keys of m in order.
func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
