package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The replicated session queues. Every QoS 1/2 delivery a persistent
// session holds (queued, or in flight to its client) is appended to a
// JetStream stream, on the subject of its client id, before the
// acknowledgement that vouches for it goes out; it is purged once it left
// the session. A node that takes over the session of a lost node reads the
// subject back. There are queueStreams streams (client ids hashed onto
// them), each replicated Replicas ways, and no consumer at all: appends are
// publishes, reads are message gets by subject, removals are purges of a
// subject below a sequence (docs/design.md, "Cluster").
const (
	queueStreams = 4
	subjQueue    = "iothub.q."     // + bucket + "." + client key
	queuePrefix  = "iothub_queue_" // + bucket
	// queueWindow bounds the appends published and not yet acknowledged.
	queueWindow = 1 << 14
	// queueMaxOut bounds the appends waiting to be published; beyond it an
	// append fails (the acknowledgements that depend on it are withheld).
	queueMaxOut = 1 << 18
	// purgeEvery is how often the removals of delivered messages are
	// written (coalesced per session).
	purgeEvery = 250 * time.Millisecond
	// purgeWorkers bounds the purges in flight.
	purgeWorkers = 8
)

// ErrNotReplicated is the error Sync returns when an append to the
// replicated queues failed or did not finish in time.
var ErrNotReplicated = errors.New("cluster: session queue not replicated")

// queueSubject returns the stream bucket and the subject of clientID's
// queue.
func queueSubject(clientID string) (int, string) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(clientID))
	b := int(h.Sum32() % queueStreams)
	return b, subjQueue + strconv.Itoa(b) + ".c" + base64.RawURLEncoding.EncodeToString([]byte(clientID))
}

// queues is the node's side of the replicated queues: the appends on their
// way, and for each local session the deliveries it holds with their
// stream sequence numbers, so that the purge point is known.
type queues struct {
	mu       sync.Mutex
	sessions map[string]*qsession
	out      []*qappend // waiting for the writer
	next     uint64     // id of the latest append
	resolved uint64     // every append up to this id is acknowledged or failed
	failed   uint64     // id of the latest failed append
	failedAt time.Time  // when it failed
	reported uint64     // Sync reported the failures up to this id
	advance  chan struct{}
	dirty    map[*qsession]struct{}
	request  func() // the broker's sync request (SetSyncRequest)

	wake     chan struct{}
	inflight chan *qappend
	streams  [queueStreams]jetstream.Stream
	js       jetstream.JetStream
}

// qsession is one local session's replicated deliveries.
type qsession struct {
	id      string
	bucket  int
	subject string
	entries []qentry // in pseq order
	purged  uint64   // the subject's messages below this sequence are purged
	popped  uint64   // highest sequence of a delivery that left
	ended   bool     // every delivery goes once acknowledged, then the session
}

// qentry is one delivery: pseq is its number in the broker's session, seq
// its stream sequence (0 until acknowledged).
type qentry struct {
	pseq, seq    uint64
	done, failed bool
}

// qappend is one append on its way to the stream.
type qappend struct {
	id    uint64
	s     *qsession
	pseq  uint64
	data  []byte
	first time.Time
	f     jetstream.PubAckFuture
	// retried is set when the append was published again: the first
	// attempt may have been stored too, under another sequence.
	retried bool
}

func (q *queues) init() {
	q.sessions, q.advance, q.dirty = make(map[string]*qsession), make(chan struct{}), make(map[*qsession]struct{})
	q.wake, q.inflight = make(chan struct{}, 1), make(chan *qappend, queueWindow)
}

// setupQueues creates (or opens) the queue streams and starts the writer,
// the acknowledgement reader and the purger.
func (n *Node) setupQueues(ctx context.Context) error {
	// An append whose acknowledgement never comes (the stream's leader
	// died with it) times out and is published again (awaitAppend).
	js, err := jetstream.New(n.jc, jetstream.WithPublishAsyncMaxPending(queueWindow),
		jetstream.WithPublishAsyncTimeout(max(2*time.Second, 2*n.opts.ForwardTimeout)))
	if err != nil {
		return fmt.Errorf("queue streams: %w", err)
	}
	for b := range queueStreams {
		name := queuePrefix + strconv.Itoa(b)
		s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: name, Description: "iothub: persistent sessions' queued and in-flight messages",
			Subjects: []string{subjQueue + strconv.Itoa(b) + ".>"}, Storage: jetstream.FileStorage,
			Replicas: n.opts.Replicas, Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
			MaxAge: n.opts.QueueMaxAge, MaxMsgSize: int32(max(n.opts.MaxPayload, 1<<20)),
		})
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		n.q.streams[b] = s
	}
	n.q.js = js
	return nil
}

// startQueues starts the queue goroutines once the streams exist.
func (n *Node) startQueues() {
	n.wg.Add(3)
	go n.queueWriter()
	go n.queueAcks()
	go n.queuePurger()
}

// SetSyncRequest gives the node the function that tells the broker's
// committer that acknowledgements wait for a Sync (broker.AddSyncer).
func (n *Node) SetSyncRequest(request func()) {
	n.q.mu.Lock()
	n.q.request = request
	n.q.mu.Unlock()
}

// sessionLocked returns clientID's tracked session, created if needed.
func (q *queues) sessionLocked(clientID string) *qsession {
	s := q.sessions[clientID]
	if s == nil {
		b, subj := queueSubject(clientID)
		s = &qsession{id: clientID, bucket: b, subject: subj}
		q.sessions[clientID] = s
	}
	return s
}

// find returns the index of pseq's entry, -1 if none.
func (s *qsession) find(pseq uint64) int {
	lo, hi := 0, len(s.entries)
	for lo < hi {
		m := (lo + hi) / 2
		if s.entries[m].pseq < pseq {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(s.entries) && s.entries[lo].pseq == pseq {
		return lo
	}
	return -1
}

// Enqueue implements broker.Cluster: the delivery is appended to the
// client's replicated queue by the writer; the next Sync waits for it.
func (n *Node) Enqueue(clientID string, pseq uint64, record []byte) {
	q := &n.q
	q.mu.Lock()
	s := q.sessionLocked(clientID)
	s.entries = append(s.entries, qentry{pseq: pseq})
	q.next++
	a := &qappend{id: q.next, s: s, pseq: pseq, data: record}
	if len(q.out) >= queueMaxOut {
		n.stats.queueFailed.Add(1)
		q.resolveLocked(a, 0, ErrNotReplicated)
	} else {
		q.out = append(q.out, a)
	}
	request := q.request
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	if request != nil {
		request()
	}
}

// Dequeue implements broker.Cluster: delivery pseq left the session; it
// is purged with the session's next purge.
func (n *Node) Dequeue(clientID string, pseq uint64) {
	q := &n.q
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.sessions[clientID]
	if s == nil {
		return
	}
	if i := s.find(pseq); i >= 0 {
		s.entries[i].done = true
		q.dirty[s] = struct{}{}
	}
}

// Requeue implements broker.Cluster: delivery pseq of an imported session
// is already in the stream, at sequence handle.
func (n *Node) Requeue(clientID string, pseq, handle uint64) {
	q := &n.q
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.sessionLocked(clientID)
	s.entries = append(s.entries, qentry{pseq: pseq, seq: handle})
}

// EndQueue implements broker.Cluster: the session ended here; its
// replicated deliveries are purged once the appends in flight are done.
func (n *Node) EndQueue(clientID string) {
	q := &n.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if s := q.sessions[clientID]; s != nil {
		s.ended = true
		delete(q.sessions, clientID)
		q.dirty[s] = struct{}{}
	}
}

// HandOver implements broker.Cluster: it waits (bounded) until the
// appends made so far are acknowledged, returns the stream sequences of
// pseqs (0: not replicated) and forgets the session, which another node
// now follows.
func (n *Node) HandOver(clientID string, pseqs []uint64) []uint64 {
	q := &n.q
	ctx, cancel := context.WithTimeout(context.Background(), n.replicateTimeout())
	defer cancel()
	q.mu.Lock()
	target := q.next
	q.mu.Unlock()
	_ = q.waitResolved(ctx, target)
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]uint64, len(pseqs))
	s := q.sessions[clientID]
	if s == nil {
		return out
	}
	for i, p := range pseqs {
		if j := s.find(p); j >= 0 && !s.entries[j].failed {
			out[i] = s.entries[j].seq
		}
	}
	delete(q.sessions, clientID)
	delete(q.dirty, s)
	return out
}

// LoadQueue implements broker.Cluster: clientID's replicated deliveries,
// oldest first, read from the stream's leader one message at a time.
func (n *Node) LoadQueue(ctx context.Context, clientID string) ([][]byte, []uint64, error) {
	if err := n.waitReady(ctx); err != nil {
		return nil, nil, err
	}
	b, subj := queueSubject(clientID)
	st := n.q.streams[b]
	var recs [][]byte
	var seqs []uint64
	for seq := uint64(1); ; {
		// Each read is bounded on its own and tried again: right after a
		// node loss a request may reach a stream leader that is gone.
		gctx, cancel := context.WithTimeout(ctx, n.readTimeout())
		m, err := st.GetMsg(gctx, seq, jetstream.WithGetMsgSubject(subj))
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return recs, seqs, nil
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("%w: read queue of %q: %w", ErrNotReady, clientID, err)
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		recs, seqs = append(recs, m.Data), append(seqs, m.Sequence)
		seq = m.Sequence + 1
	}
}

// readTimeout bounds one read of the replicated state before it is tried
// again.
func (n *Node) readTimeout() time.Duration {
	return max(3*time.Second, 2*n.opts.ForwardTimeout)
}

// DropQueue implements broker.Cluster: clientID's replicated queue is
// purged (a clean start of a session that lived on another node).
func (n *Node) DropQueue(ctx context.Context, clientID string) error {
	if err := n.waitReady(ctx); err != nil {
		return err
	}
	b, subj := queueSubject(clientID)
	n.q.mu.Lock()
	if s := n.q.sessions[clientID]; s != nil {
		delete(n.q.sessions, clientID)
		delete(n.q.dirty, s)
	}
	n.q.mu.Unlock()
	if err := n.q.streams[b].Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		return fmt.Errorf("%w: purge queue of %q: %w", ErrNotReady, clientID, err)
	}
	return nil
}

// Sync implements broker.Syncer: it waits until every append made before
// the call is acknowledged by the stream (a quorum of its replicas holds
// it). An append that failed, or a wait longer than the replication
// timeout, is an error: the acknowledgements of that commit are withheld.
func (n *Node) Sync(bool) error {
	q := &n.q
	q.mu.Lock()
	target, prev := q.next, q.reported
	q.mu.Unlock()
	if target == prev {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.replicateTimeout())
	defer cancel()
	err := q.waitResolved(ctx, target)
	q.mu.Lock()
	// A failure stays an error for a while: an acknowledgement that
	// depends on the failed append may be queued after this Sync (its
	// publisher waited for room elsewhere in between).
	failed := q.failed > prev || !q.failedAt.IsZero() && time.Since(q.failedAt) < n.replicateTimeout()
	q.reported = target
	q.mu.Unlock()
	switch {
	case err != nil:
		n.stats.queueTimeouts.Add(1)
		return fmt.Errorf("%w: %w", ErrNotReplicated, err)
	case failed:
		return ErrNotReplicated
	}
	return nil
}

// waitResolved waits until every append up to id is resolved.
func (q *queues) waitResolved(ctx context.Context, id uint64) error {
	for {
		q.mu.Lock()
		done, ch := q.resolved >= id, q.advance
		q.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// replicateTimeout bounds how long an acknowledgement waits for the
// replicated queue (a stream leader elected after a node loss included).
func (n *Node) replicateTimeout() time.Duration {
	return max(10*time.Second, 4*n.opts.ForwardTimeout)
}

// queueWriter publishes the appends, in order, without waiting for their
// acknowledgements (queueAcks does).
func (n *Node) queueWriter() {
	defer n.wg.Done()
	defer close(n.q.inflight)
	q := &n.q
	for {
		select {
		case <-n.quit:
			return
		case <-q.wake:
		}
		q.mu.Lock()
		batch := q.out
		q.out = nil
		q.mu.Unlock()
		for _, a := range batch {
			a.first = time.Now()
			a.f, _ = q.js.PublishMsgAsync(&nats.Msg{Subject: a.s.subject, Data: a.data})
			select {
			case q.inflight <- a:
			case <-n.quit:
				return
			}
		}
	}
}

// queueAcks reads the acknowledgements in append order; a failed append
// is published again until the replication timeout.
func (n *Node) queueAcks() {
	defer n.wg.Done()
	q := &n.q
	for a := range q.inflight {
		seq, err := n.awaitAppend(a)
		q.mu.Lock()
		q.resolveLocked(a, seq, err)
		q.mu.Unlock()
		if err != nil {
			n.stats.queueFailed.Add(1)
			n.log.Warn("session queue append failed; the acknowledgements that depend on it are withheld",
				"client_id", a.s.id, "error", err)
		}
	}
}

func (n *Node) awaitAppend(a *qappend) (uint64, error) {
	var err error
	for {
		if a.f != nil {
			select {
			case ack := <-a.f.Ok():
				return ack.Sequence, nil
			case err = <-a.f.Err():
			case <-n.quit:
				return 0, ErrNotReplicated
			}
		}
		if time.Since(a.first) > n.replicateTimeout() {
			return 0, err
		}
		select {
		case <-n.quit:
			return 0, ErrNotReplicated
		case <-time.After(100 * time.Millisecond):
		}
		n.stats.queueRetries.Add(1)
		a.retried = true
		a.f, err = n.q.js.PublishMsgAsync(&nats.Msg{Subject: a.s.subject, Data: a.data})
	}
}

// resolveLocked records the outcome of append a.
func (q *queues) resolveLocked(a *qappend, seq uint64, err error) {
	s := a.s
	if i := s.find(a.pseq); i >= 0 {
		switch {
		case err != nil, a.retried && s.ended:
			// A retried append of an ended session is left to the
			// stream's age limit: its sequence may be above the next
			// session's first messages, which a purge below it would take.
			s.entries[i].failed = true
		default:
			s.entries[i].seq = seq
		}
		if s.entries[i].done || s.ended {
			q.dirty[s] = struct{}{}
		}
	}
	if err != nil {
		q.failed, q.failedAt = max(q.failed, a.id), time.Now()
	}
	q.resolved = max(q.resolved, a.id)
	a.data, a.f = nil, nil
	close(q.advance)
	q.advance = make(chan struct{})
}

// purge is one purge to write: the session's messages below seq.
type purge struct {
	s   *qsession
	seq uint64
}

// queuePurger writes, every purgeEvery, the purges of the sessions whose
// delivered messages left them.
func (n *Node) queuePurger() {
	defer n.wg.Done()
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		select {
		case <-n.quit:
			return
		case <-t.C:
		}
		n.runPurges(n.q.takePurges())
	}
}

// takePurges pops the delivered entries of the dirty sessions and returns
// the purges due.
func (q *queues) takePurges() []purge {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []purge
	for s := range q.dirty {
		delete(q.dirty, s)
		if p := s.popLocked(); p > s.purged {
			s.purged = p
			out = append(out, purge{s: s, seq: p})
		}
	}
	return out
}

// popLocked drops the delivered entries and returns the sequence below
// which the subject holds none of the session's outstanding deliveries:
// the lowest acknowledged outstanding sequence, or one past the highest
// delivered one (an unacknowledged append gets a higher sequence than any
// acknowledged one).
func (s *qsession) popLocked() uint64 {
	kept := s.entries[:0]
	for _, e := range s.entries {
		switch {
		case (e.done || s.ended) && e.seq != 0:
			s.popped = max(s.popped, e.seq)
		case e.failed:
		default:
			kept = append(kept, e)
		}
	}
	clear(s.entries[len(kept):])
	s.entries = kept
	point := s.popped + 1
	for _, e := range s.entries {
		if e.seq != 0 && e.seq < point {
			point = e.seq
		}
	}
	if s.popped == 0 {
		return 0
	}
	return point
}

func (n *Node) runPurges(ps []purge) {
	if len(ps) == 0 {
		return
	}
	work := make(chan purge)
	var wg sync.WaitGroup
	for range min(purgeWorkers, len(ps)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				n.purgeOne(p)
			}
		}()
	}
	for _, p := range ps {
		work <- p
	}
	close(work)
	wg.Wait()
}

func (n *Node) purgeOne(p purge) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*n.opts.ForwardTimeout)
	defer cancel()
	err := n.q.streams[p.s.bucket].Purge(ctx, jetstream.WithPurgeSubject(p.s.subject), jetstream.WithPurgeSequence(p.seq))
	if err == nil {
		n.stats.queuePurges.Add(1)
		return
	}
	n.stats.queuePurgeErrors.Add(1)
	n.log.Debug("session queue purge failed; retried", "client_id", p.s.id, "error", err)
	n.q.mu.Lock()
	if p.s.purged == p.seq {
		p.s.purged = 0
	}
	n.q.dirty[p.s] = struct{}{}
	n.q.mu.Unlock()
}
