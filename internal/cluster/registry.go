package cluster

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/iothub-dev/iothub/auth"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The replicated state: KV buckets of JetStream, each replicated Replicas
// ways. There is no JetStream consumer per device or subscription: each
// node runs one watcher per bucket.
const (
	bucketSessions = "iothub_sessions" // client id → owning node
	bucketRetained = "iothub_retained" // topic → retained message
)

// ErrNotReady is returned by Claim while the replicated state cannot be
// reached (no JetStream quorum: too few nodes, or this node is on the
// minority side of a partition).
var ErrNotReady = errors.New("cluster: replicated state not reachable")

// owner is the value of a session registry entry.
type owner struct {
	Node        string    `json:"node"`
	Incarnation uint64    `json:"inc"`
	Since       time.Time `json:"since"`
	// Session is the broker's record of the session (subscriptions,
	// expiry, the will of its connection), opaque here: what another node
	// adopts when the owner is lost.
	Session json.RawMessage `json:"session,omitempty"`
}

// recordOwner is what the registry reads of the broker's session records:
// the identity that owns the session, and whether a claim may take over
// a session of another identity (broker.Options.AllowSessionTakeover).
type recordOwner struct {
	Owner    string `json:"owner"`
	Takeover bool   `json:"takeover"`
}

// mayTakeOver refuses (auth.ErrSessionOwned) a claim whose record names
// another owner than the registered session's, unless it may take over:
// one device cannot take another's session by connecting to another node.
func mayTakeOver(registered, claim []byte) error {
	var was, by recordOwner
	_ = json.Unmarshal(registered, &was)
	_ = json.Unmarshal(claim, &by)
	if was.Owner == "" || was.Owner == by.Owner || by.Takeover {
		return nil
	}
	return fmt.Errorf("%w: %s", auth.ErrSessionOwned, was.Owner)
}

// registryKey is the KV key of a client id (KV keys allow few characters).
func registryKey(clientID string) string {
	return "c." + base64.RawURLEncoding.EncodeToString([]byte(clientID))
}

func clientOfKey(key string) (string, bool) {
	if len(key) < 2 || key[:2] != "c." {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(key[2:])
	return string(b), err == nil
}

// state is the node's handle on the replicated state.
type state struct {
	ready    chan struct{} // closed once the buckets exist
	js       jetstream.JetStream
	sessions jetstream.KeyValue
	retained jetstream.KeyValue
	shadows  jetstream.KeyValue // shadows.go

	locksMu sync.Mutex
	locks   map[string]*claimLock // per client id, while a claim runs here

	retainQ chan retainOp // retained puts, in publish order

	dirtyMu   sync.Mutex
	dirty     map[string][]byte // session records to write, by client id
	dirtyWake chan struct{}
}

type claimLock struct {
	mu   sync.Mutex
	refs int
}

// setupState creates (or opens) the buckets, retrying until JetStream has
// a quorum, then starts the watchers.
func (n *Node) setupState() {
	defer n.wg.Done()
	js, err := jetstream.New(n.nc)
	if err != nil {
		n.log.Error("jetstream client", "error", err)
		return
	}
	n.st.js = js
	for attempt := 0; ; attempt++ {
		if err := n.createBuckets(); err == nil {
			break
		} else if attempt%10 == 9 {
			n.log.Warn("replicated state not ready yet; waiting for enough nodes", "replicas", n.opts.Replicas, "error", err)
		}
		select {
		case <-n.quit:
			return
		case <-time.After(time.Second):
		}
	}
	n.startQueues() // queue.go
	close(n.st.ready)
	n.log.Info("replicated state ready", "replicas", n.opts.Replicas)
	n.wg.Add(2)
	go n.fenceRecovered()
	go n.watchRetained() // retained.go
}

func (n *Node) createBuckets() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var err error
	// The registry's stream is made here rather than by
	// CreateOrUpdateKeyValue, to turn direct gets off: a direct get may be
	// answered by a replica behind the leader, and a claim or a record
	// write must read the latest revision.
	_, err = n.st.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "KV_" + bucketSessions, Description: "iothub: client id → owning node",
		Subjects: []string{"$KV." + bucketSessions + ".>"}, MaxMsgsPerSubject: 1, MaxBytes: -1, MaxMsgs: -1, MaxMsgSize: -1,
		MaxConsumers: -1, Storage: jetstream.FileStorage, Replicas: n.opts.Replicas, AllowRollup: true, DenyDelete: true,
		Duplicates: 2 * time.Minute, Discard: jetstream.DiscardNew,
		// Release's purge markers expire (registryMarkerTTL): a client id
		// that went away leaves nothing in the registry.
		AllowMsgTTL: true,
	})
	if err == nil {
		n.st.sessions, err = n.st.js.KeyValue(ctx, bucketSessions)
	}
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucketSessions, err)
	}
	n.st.retained, err = n.st.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucketRetained, Description: "iothub: retained messages", History: 1,
		Replicas: n.opts.Replicas, Storage: jetstream.FileStorage, MaxValueSize: int32(max(n.opts.MaxPayload, 1<<20)),
	})
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucketRetained, err)
	}
	if err := n.createShadowBucket(ctx); err != nil { // shadows.go
		return err
	}
	return n.setupQueues(ctx) // queue.go
}

// waitReady waits, bounded by ctx, until the replicated state is set up.
func (n *Node) waitReady(ctx context.Context) error {
	select {
	case <-n.st.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
}

func (n *Node) lockClient(id string) func() {
	n.st.locksMu.Lock()
	l := n.st.locks[id]
	if l == nil {
		l = &claimLock{}
		n.st.locks[id] = l
	}
	l.refs++
	n.st.locksMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		n.st.locksMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(n.st.locks, id)
		}
		n.st.locksMu.Unlock()
	}
}

// Claim implements broker.Cluster: it makes this node the registered owner
// of clientID with a compare-and-set on the entry's revision (a concurrent
// claim on another node makes one of them retry: one owner at a time),
// then asks the previous owner, if it is another live node, for the
// session. The previous owner closes its connection with 0x8E. When the
// owner is gone (or silent, or holds no such session) lost is set and
// state is the record the owner last replicated: the session's queue is in
// the replicated queues (LoadQueue). Claims of one client id on this node
// are serialised until done is called. A claim whose record names another
// owner than the registered session's is refused with
// auth.ErrSessionOwned, before anything changes (mayTakeOver).
func (n *Node) Claim(ctx context.Context, clientID string, record []byte) ([]byte, bool, func(), error) {
	if err := n.waitReady(ctx); err != nil {
		return nil, false, nil, err
	}
	if n.minority() {
		return nil, false, nil, fmt.Errorf("%w: this node sees a minority of the cluster", ErrNotReady)
	}
	unlock := n.lockClient(clientID)
	done := n.claimStarted()
	release := func() { done(); unlock() }
	prev, err := n.register(ctx, clientID, record)
	if err != nil {
		release()
		return nil, false, nil, err
	}
	n.endRelay(clientID, nil) // the session is here again: nothing to pass on
	if prev == nil {
		return nil, false, release, nil
	}
	if prev.Node == n.opts.Name {
		if prev.Incarnation == n.inc {
			return nil, false, release, nil
		}
		// Registered by this node's previous life: resumed from what
		// this node recovered, or from the replicated state if nothing.
		if bp := n.broker.Load(); bp != nil {
			if exists, _ := (*bp).HasSession(clientID); exists {
				return nil, false, release, nil
			}
		}
		return prev.Session, true, release, nil
	}
	n.stats.takeovers.Add(1)
	opened, drop := n.expectRelays(clientID) // relay.go
	if state := n.requestTakeover(ctx, prev.Node, clientID); state != nil {
		return state, false, func() { opened(); release() }, nil
	}
	drop()
	// The owner is gone (or silent): the session resumes from its
	// replicated record and queue.
	return prev.Session, true, release, nil
}

// createFirst makes a claim try to create the registry entry before it
// reads it (a variable so that BenchmarkClaim can compare both orders).
var createFirst = true

// register writes this node as clientID's owner and returns the previous
// owner (nil: none).
func (n *Node) register(ctx context.Context, clientID string, record []byte) (*owner, error) {
	key := registryKey(clientID)
	val, _ := json.Marshal(owner{Node: n.opts.Name, Incarnation: n.inc, Since: time.Now(), Session: record})
	// First as a new entry: one replicated write, no read, when the client
	// id has none (its first connection); otherwise the write is refused
	// by the stream's leader without replication, and the entry is read.
	if createFirst {
		_, err := n.st.sessions.Update(ctx, key, val, 0)
		switch {
		case err == nil:
			return nil, nil
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%w: registry write: %w", ErrNotReady, err)
		}
	}
	for attempt := 0; attempt < 8; attempt++ {
		e, err := n.st.sessions.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
			var rev uint64
			if e != nil {
				rev = e.Revision()
			}
			if rev == 0 {
				_, err = n.st.sessions.Create(ctx, key, val)
			} else {
				_, err = n.st.sessions.Update(ctx, key, val, rev)
			}
			if err == nil {
				return nil, nil
			}
		case err != nil:
			return nil, fmt.Errorf("%w: registry read: %w", ErrNotReady, err)
		default:
			var prev owner
			_ = json.Unmarshal(e.Value(), &prev)
			if err := mayTakeOver(prev.Session, record); err != nil {
				return nil, err
			}
			if _, err = n.st.sessions.Update(ctx, key, val, e.Revision()); err == nil {
				return &prev, nil
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: registry write: %w", ErrNotReady, err)
		}
		n.log.Debug("registry claim raced; retrying", "client_id", clientID, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("%w: registry claim of %q kept racing", ErrNotReady, clientID)
}

// requestTakeover asks node for clientID's session; nil when the node is
// gone or does not answer in time.
func (n *Node) requestTakeover(ctx context.Context, node, clientID string) []byte {
	n.mu.Lock()
	alive := n.core.Alive(node)
	n.mu.Unlock()
	if !alive {
		n.log.Info("session owner is gone; the session resumes from its replicated record", "client_id", clientID, "node", node)
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 2*n.opts.ForwardTimeout)
	defer cancel()
	req := &nats.Msg{Subject: subjRPC + nodeToken(node) + ".takeover", Data: []byte(clientID), Header: nats.Header{}}
	req.Header.Set(hdrNode, n.opts.Name) // the old node passes late messages on here (relay.go)
	reply, err := n.nc.RequestMsgWithContext(rctx, req)
	if err != nil {
		n.log.Warn("takeover request unanswered; the session resumes from its replicated record", "client_id", clientID, "node", node, "error", err)
		// The registry names this node now: the owner, alive but slow,
		// closes its copy when it gets this (fence checks the registry).
		_ = n.nc.Publish(subjRPC+nodeToken(node)+".fence", []byte(clientID))
		return nil
	}
	if len(reply.Data) == 0 {
		return nil
	}
	return reply.Data
}

// onTakeover answers another node's claim: the local session is closed
// (0x8E) and handed over, and the messages for it that still reach this
// node are passed on to the claimer for a while (relay.go).
func (n *Node) onTakeover(m *nats.Msg) {
	id, to := string(m.Data), m.Header.Get(hdrNode)
	go func() {
		unlock := n.lockClient(id)
		var state []byte
		if bp := n.broker.Load(); bp != nil {
			state = n.handOver(*bp, id, to)
		}
		unlock()
		if n.opts.onTakenOver != nil && state != nil {
			n.opts.onTakenOver(id)
		}
		_ = m.Respond(state)
	}()
}

// registryMarkerTTL is how long the marker of a released registry entry
// stays: then the client id's subject is gone from the registry's stream
// on every node. A delete marker without it stayed for good, and every
// node kept JetStream's index entry of every client id that ever
// connected (about 150 bytes of heap each, and its record on disk): a
// cost that grew with the client ids that come and go (random ids of
// dashboards and test tools), not with the connections.
const registryMarkerTTL = time.Minute

// Release implements broker.Cluster: the registry entry is purged, if it
// still names this node, with a marker that expires (registryMarkerTTL).
func (n *Node) Release(clientID string) {
	select {
	case <-n.st.ready:
	default:
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.opts.ForwardTimeout)
		defer cancel()
		key := registryKey(clientID)
		e, err := n.st.sessions.Get(ctx, key)
		if err != nil {
			return
		}
		var o owner
		if json.Unmarshal(e.Value(), &o) != nil || o.Node != n.opts.Name {
			return
		}
		_ = n.st.sessions.Purge(ctx, key, jetstream.LastRevision(e.Revision()), jetstream.PurgeTTL(cmp.Or(n.opts.markerTTL, registryMarkerTTL)))
	}()
}

// onFence answers another node that took a session from this one without
// its answer (a takeover request that timed out: clientID), or that saw
// this node come back from a partition (empty: every session): the
// sessions the registry gives to another node are closed here (0x8E).
// There is no registry watch: it received every CONNECT of the cluster on
// every node (memory and CPU per client id on each node).
func (n *Node) onFence(m *nats.Msg) {
	id := string(m.Data)
	if id == "" {
		go n.sweep()
		return
	}
	go func() {
		for attempt := 0; attempt < 5 && !n.fence(id, true); attempt++ {
			select {
			case <-n.quit:
				return
			case <-time.After(time.Second):
			}
		}
	}()
}

// FenceRecovered closes, before the broker announces its filters, the
// sessions the broker recovered from its store that the registry gives to
// another node; it waits for the replicated state, bounded by ctx (then
// they are checked once the state is ready, see fenceRecovered).
func (n *Node) FenceRecovered(ctx context.Context) {
	bp := n.broker.Load()
	if bp == nil {
		return
	}
	ids := (*bp).SessionIDs()
	if len(ids) == 0 {
		return
	}
	if err := n.waitReady(ctx); err != nil {
		n.log.Warn("recovered sessions not checked against the registry before serving; checked once the replicated state is ready",
			"sessions", len(ids), "error", err)
		return
	}
	// Entries still registered to this node's previous life are being
	// adopted by the others (it left, or was lost): wait for that, then
	// fence; entries nobody adopts in time (a crash and a restart quicker
	// than the node timeout: nobody saw the loss) are claimed back.
	wait, cancel := context.WithTimeout(ctx, lostHoldFactor*n.opts.NodeTimeout)
	defer cancel()
	for pending := ids; len(pending) > 0; {
		var next []string
		for _, id := range pending {
			if n.previousLife(wait, id) || !n.fence(id, false) {
				next = append(next, id) // adopted meanwhile, or checked again
			}
		}
		if pending = next; len(pending) == 0 {
			return
		}
		select {
		case <-wait.Done():
			for _, id := range pending {
				n.claimBack(id)
				n.fence(id, false)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// previousLife reports whether clientID's registry entry names this node's
// name with an earlier incarnation (false when it cannot be read).
func (n *Node) previousLife(ctx context.Context, clientID string) bool {
	gctx, cancel := context.WithTimeout(ctx, n.readTimeout())
	defer cancel()
	e, err := n.st.sessions.Get(gctx, registryKey(clientID))
	if err != nil {
		return false
	}
	var o owner
	return json.Unmarshal(e.Value(), &o) == nil && o.Node == n.opts.Name && o.Incarnation != n.inc
}

// claimBack registers this incarnation as the owner of clientID's entry if
// it still names this node's previous life (compare-and-set: an adoption
// that got there first wins, and fence then closes the local copy).
func (n *Node) claimBack(clientID string) {
	ctx, cancel := context.WithTimeout(context.Background(), n.readTimeout())
	defer cancel()
	key := registryKey(clientID)
	e, err := n.st.sessions.Get(ctx, key)
	if err != nil {
		return
	}
	var o owner
	if json.Unmarshal(e.Value(), &o) != nil || o.Node != n.opts.Name || o.Incarnation == n.inc {
		return
	}
	o.Incarnation, o.Since = n.inc, time.Now()
	val, _ := json.Marshal(o)
	if _, err := n.st.sessions.Update(ctx, key, val, e.Revision()); err == nil {
		n.log.Info("recovered session claimed back: nobody adopted it", "client_id", clientID)
	}
}

// fenceRecovered closes the sessions this node recovered from its store
// that another node adopted or took over while it was away (a restart in
// a rolling upgrade): their subscriptions, queue and replicated deliveries
// live there now, and the stale copy here must not take messages.
func (n *Node) fenceRecovered() {
	defer n.wg.Done()
	select {
	case <-n.attached:
	case <-n.quit:
		return
	}
	for _, id := range (*n.broker.Load()).SessionIDs() {
		select {
		case <-n.quit:
			return
		default:
		}
		n.fence(id, false)
	}
}

// minority reports whether this node is cut off from most of the cluster
// (the minority side of a partition): the registry cannot be written, so
// claims are refused at once rather than after their timeout.
func (n *Node) minority() bool {
	if n.opts.Replicas <= 1 {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.core.Majority()
}

// sweep checks every local session against the registry after a node that
// was cut off came back (a partition healed), and closes those another
// node owns now; a read right after the heal may fail, so the sweep
// retries what it could not read (bounded).
func (n *Node) sweep() {
	select {
	case <-n.st.ready:
	case <-n.quit:
		return
	}
	bp := n.broker.Load()
	if bp == nil {
		return
	}
	pending := (*bp).SessionIDs()
	deadline := time.Now().Add(lostHoldFactor * n.opts.NodeTimeout)
	for len(pending) > 0 {
		var next []string
		for _, id := range pending {
			if !n.fence(id, true) {
				next = append(next, id)
			}
		}
		if pending = next; len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-n.quit:
			return
		case <-time.After(time.Second):
		}
	}
	if len(pending) > 0 {
		n.log.Warn("sessions not checked against the registry after a partition healed", "sessions", len(pending))
	}
}

// fence closes the local session of id if the registry still names another
// node; false when the registry could not be read, or a read could not be
// confirmed as current.
//
// Right after a partition heals a read can be answered by a node that still
// takes itself for the registry's leader and has not seen what the other
// side wrote: a majority node read its own session as the minority's and
// closed it, and the minority read its stale copy as its own and kept it.
// So a decision to close is confirmed by rewriting the entry as read with a
// compare-and-set (only the true leader commits it, and only if the read
// was current), and so is a decision to keep when verifyMine is set (the
// checks after a heal, and those another node asked for).
func (n *Node) fence(id string, verifyMine bool) bool {
	bp := n.broker.Load()
	if bp == nil {
		return true
	}
	if exists, _ := (*bp).HasSession(id); !exists {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.readTimeout())
	defer cancel()
	key := registryKey(id)
	e, err := n.st.sessions.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return true
	}
	if err != nil {
		return false
	}
	var o owner
	if json.Unmarshal(e.Value(), &o) != nil {
		return true
	}
	mine := o.Node == n.opts.Name
	if !mine || verifyMine {
		if _, err := n.st.sessions.Update(ctx, key, e.Value(), e.Revision()); err != nil {
			n.log.Debug("registry read not confirmed; the session is checked again", "client_id", id, "error", err)
			return false
		}
	}
	if mine {
		return true
	}
	unlock := n.lockClient(id)
	(*bp).TakeSession(id)
	unlock()
	n.stats.fenced.Add(1)
	n.log.Warn("session owned by another node closed here", "client_id", id, "owner", o.Node)
	return true
}

// Save implements broker.Cluster: the session record of clientID is
// written to its registry entry (if this node still owns it) by saveLoop;
// several saves of one client before it runs are written once.
func (n *Node) Save(clientID string, record []byte) {
	n.st.dirtyMu.Lock()
	n.st.dirty[clientID] = record
	n.st.dirtyMu.Unlock()
	select {
	case n.st.dirtyWake <- struct{}{}:
	default:
	}
}

// saveLoop writes the saved session records.
func (n *Node) saveLoop() {
	defer n.wg.Done()
	select {
	case <-n.st.ready:
	case <-n.quit:
		return
	}
	for {
		select {
		case <-n.quit:
			return
		case <-n.st.dirtyWake:
		}
		n.st.dirtyMu.Lock()
		batch := n.st.dirty
		n.st.dirty = make(map[string][]byte)
		n.st.dirtyMu.Unlock()
		for id, rec := range batch {
			n.writeRecord(id, rec)
		}
	}
}

func (n *Node) writeRecord(clientID string, record []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*n.opts.ForwardTimeout)
	defer cancel()
	key := registryKey(clientID)
	for {
		e, err := n.st.sessions.Get(ctx, key)
		if err != nil {
			return // released or unreachable
		}
		var o owner
		if json.Unmarshal(e.Value(), &o) != nil || o.Node != n.opts.Name {
			return // another node owns it now
		}
		o.Session = record
		val, _ := json.Marshal(o)
		if _, err = n.st.sessions.Update(ctx, key, val, e.Revision()); err == nil {
			return
		}
		// A concurrent write, or a read from a replica behind the
		// leader (KV reads are direct): read again.
		select {
		case <-ctx.Done():
			n.stats.recordsFailed.Add(1)
			n.log.Warn("session record not replicated", "client_id", clientID, "error", err)
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}
