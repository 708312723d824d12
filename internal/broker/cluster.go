package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/iothub-dev/iothub/auth"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// Cluster connects the broker to the other nodes of a cluster
// (internal/cluster implements it; without one the hub is a single node).
// Its methods are called with broker locks held: they must not block and
// must not call back into the broker.
type Cluster interface {
	// Interest reports that the node's first subscription on filter
	// ("$share/g/f" included) appeared (add) or its last one went. It is
	// called once per (filter, client id) pair: the cluster counts them.
	Interest(filter string, add bool)
	// Forward sends m to the other nodes with interest (and to the node
	// chosen for each matching shared group, which may be this one). It
	// returns how many nodes and groups it expects to take the message,
	// and, when the publisher must wait for them (QoS 1/2), a wait that
	// calls its function once, when they stored it or with an error when
	// they could not be reached in time. A nil wait means nothing to wait
	// for.
	Forward(m *msg.Message) (targets int, wait func(func(error)))
	// Claim makes this node the owner of clientID cluster-wide before its
	// CONNECT is accepted, and takes the session from the node that held
	// it: state is what that node's TakeSession returned, or, with lost
	// set, the record last given to Save when that node is gone (or holds
	// no such session): its queue is then read with LoadQueue. nil: no
	// session anywhere. The record's "owner" names the identity that owns
	// the session (clusterRecord): a claim for a session registered to
	// another owner fails, changing nothing, with an error wrapping
	// auth.ErrSessionOwned, unless the record says "takeover".
	// done must be called once the session is open here; until then a
	// claim from another node waits. An error refuses the CONNECT
	// (Server unavailable): ownership could not be established. It
	// blocks (a replicated write), bounded by ctx.
	Claim(ctx context.Context, clientID string, record []byte) (state []byte, lost bool, done func(), err error)
	// Save replicates the record of clientID's session (subscriptions,
	// expiry, the will of its connection) so that another node can adopt
	// it if this one is lost. Writes are coalesced; it does not block.
	Save(clientID string, record []byte)
	// Release says that clientID's session ended on this node (no one
	// owns it any more). It does not block.
	Release(clientID string)
	// Retain replicates a retained message set (or, with an empty
	// payload, cleared) on this node to the others. It does not block.
	Retain(m *msg.Message)

	// The replicated queues of persistent sessions (cluster_session.go).
	// The acknowledgements that vouch for a delivery wait for its
	// replicated write: the cluster is registered as a Syncer.

	// Enqueue replicates delivery pseq of clientID's persistent session
	// (queued or in flight); record is its queue record
	// (persist_record.go). It does not block.
	Enqueue(clientID string, pseq uint64, record []byte)
	// Dequeue says delivery pseq left clientID's session (acknowledged,
	// dropped or expired). It does not block.
	Dequeue(clientID string, pseq uint64)
	// Requeue says delivery pseq of clientID's session, imported from
	// another node, is replicated already, under handle. It does not
	// block.
	Requeue(clientID string, pseq, handle uint64)
	// EndQueue says clientID's session ended here: its replicated
	// deliveries go. It does not block.
	EndQueue(clientID string)
	// HandOver waits until clientID's deliveries are replicated and
	// returns the handles of pseqs (0: not replicated); the session has
	// left this node for another. It blocks (bounded) and is called with
	// no broker lock held.
	HandOver(clientID string, pseqs []uint64) []uint64
	// LoadQueue returns clientID's replicated deliveries (queue records
	// and their handles, oldest first): the queue of a session whose
	// node was lost. It blocks, bounded by ctx.
	LoadQueue(ctx context.Context, clientID string) (records [][]byte, handles []uint64, err error)
	// DropQueue deletes clientID's replicated deliveries (a session that
	// lived on another node was discarded). It blocks, bounded by ctx.
	DropQueue(ctx context.Context, clientID string) error
}

// ApplyRetained sets (m) or clears (nil) the retained message of topic as
// replicated from the node it was published on; it is not replicated
// again.
func (s *Server) ApplyRetained(topic string, m *msg.Message) {
	if !s.opts.RetainAvailable {
		return
	}
	if m == nil {
		if s.retained.Delete(topic) {
			s.storeRetainedRecord(&msg.Message{Topic: topic}, true)
		}
		return
	}
	m.ID = s.nextMsgID()
	s.storeRetained(m)
}

// retainCluster replicates a retained message that entered this node.
func (s *Server) retainCluster(m *msg.Message) {
	if cl := s.cluster(); cl != nil && m.Origin.Kind != msg.OriginCluster {
		cl.Retain(m)
	}
}

// claimTimeout bounds a CONNECT's wait for cluster-wide ownership.
const claimTimeout = 10 * time.Second

// claim establishes cp's client id as this node's cluster-wide, taking the
// session from another node if one held it (with its queue, replicated or
// handed over). Without a cluster it does nothing. A refusal (not Success)
// has been answered when owned is set: the session belongs to another
// identity (auth.ErrSessionOwned).
func (c *conn) claim(cp *connectParams) (done func(), code packet.ReasonCode, owned bool) {
	cl := c.s.cluster()
	if cl == nil {
		return func() {}, packet.Success, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	defer cancel()
	rec := clusterRecord{Session: sessionRecord{Proto: byte(c.version), Expiry: cp.expiry, Username: cp.username},
		Owner: c.auth.id.Owner(), Takeover: c.s.sec.takeover.Load()}
	if cp.will != nil {
		if b, err := appendMessage(nil, cp.will); err == nil {
			rec.Will, rec.WillDelay = b, cp.willDelay
		}
	}
	b, _ := json.Marshal(rec)
	state, lost, done, err := cl.Claim(ctx, cp.clientID, b)
	if errors.Is(err, auth.ErrSessionOwned) { // the session lives on another node
		c.ownerRefused(cp, err.Error())
		return nil, packet.NotAuthorized, true
	}
	if err == nil && lost {
		state, err = c.s.resumeLost(ctx, cl, cp, state) // cluster_session.go
	}
	if err != nil {
		if done != nil {
			done()
		}
		c.logger().Warn("connection refused: cluster-wide ownership not established", "client_id", cp.clientID, "error", err)
		return nil, pick(c.version == packet.V5, packet.ServerUnavailable, packet.V311ServerUnavailable), false
	}
	if (state != nil || lost) && (cp.cleanStart || cp.expiry == 0) {
		// The session that lived elsewhere ends here: so does its
		// replicated queue (a leftover would only be sent again).
		if err := cl.DropQueue(ctx, cp.clientID); err != nil {
			c.logger().Warn("replicated queue of a discarded session not deleted", "client_id", cp.clientID, "error", err)
		}
	}
	cp.imported = state
	return done, packet.Success, false
}

// releaseSession tells the cluster that clientID's session ended here.
func (s *Server) releaseSession(clientID string) {
	if cl := s.cluster(); cl != nil {
		cl.Release(clientID)
	}
}

// SetCluster attaches the node to a cluster. It is called once, before the
// listeners serve; the filters the store recovered are announced at once.
// From then on shared subscriptions are served through the cluster (one
// member per message cluster-wide, DeliverShared), not by local routing.
func (s *Server) SetCluster(c Cluster) {
	s.clusterp.Store(&c)
	s.subs.Walk(func(filter, _ string, _ *subscription) bool {
		c.Interest(filter, true)
		return true
	})
}

// trieSubscribe adds key's subscription on filter to the trie and tells the
// cluster of a new pair.
func (s *Server) trieSubscribe(filter, key string, sub *subscription) (bool, error) {
	isNew, err := s.subs.Subscribe(filter, key, sub)
	if err == nil && isNew {
		s.stats.subscriptions.Add(1)
		if c := s.cluster(); c != nil {
			c.Interest(filter, true)
		}
	}
	return isNew, err
}

// trieUnsubscribe removes key's subscription on filter from the trie.
func (s *Server) trieUnsubscribe(filter, key string) {
	if s.subs.Unsubscribe(filter, key) {
		s.stats.subscriptions.Add(-1)
		if c := s.cluster(); c != nil {
			c.Interest(filter, false)
		}
	}
}

// forward hands a message that entered this node to the cluster. Topics
// under $ stay on their node ($SYS is per node), except the device
// services' $aws/: a shadow's answer or delta computed on one node (say,
// for an API call there) is for a device that may be on another.
func (s *Server) forward(m *msg.Message) (int, func(func(error))) {
	c := s.cluster()
	if c == nil || m.Origin.Kind == msg.OriginCluster || (strings.HasPrefix(m.Topic, "$") && !strings.HasPrefix(m.Topic, "$aws/")) {
		return 0, nil
	}
	return c.Forward(m)
}

// cluster returns the attached cluster, nil on a single node.
func (s *Server) cluster() Cluster {
	if p := s.clusterp.Load(); p != nil {
		return *p
	}
	return nil
}

// DeliverRemote delivers a message another node forwarded to this node's
// matching sessions (shared groups excepted: DeliverShared serves them);
// its Origin must be msg.OriginCluster, so that it is not forwarded again,
// and it is not emitted as published (rules ran on the entry node). It
// returns the number of sessions that took it. With a store, after is
// called once the deliveries to persistent sessions are stored (at once
// without one); the forwarding node's publisher waits for that. The
// sessions of except are left out (they got m from the node they were
// taken from: the cluster's relay).
func (s *Server) DeliverRemote(m *msg.Message, except []string, after func(error)) int {
	m.ID = s.nextMsgID()
	r := s.routeLocal(m, nil, false, except)
	s.afterStored(after)
	return r.accepted
}

// DeliverShared gives a forwarded message to one local member of the shared
// group of filter ("$share/g/f"), which the cluster chose this node for.
func (s *Server) DeliverShared(m *msg.Message, filter string, after func(error)) bool {
	m.ID = s.nextMsgID()
	group, inner, err := topic.SplitShare(filter)
	ok := false
	if err == nil {
		ms := matchesPool.Get().(*topic.Matches[*subscription])
		s.subs.Match(m.Topic, ms)
		for _, g := range ms.Shared {
			if g.Name() == group && g.Filter() == inner {
				ok = s.deliverShared(m, g, false, nil, s.readHooks()) == accepted
				break
			}
		}
		ms.Reset()
		matchesPool.Put(ms)
	}
	s.afterStored(after)
	return ok
}

// waitCluster waits, bounded by ctx, until the other nodes stored a message
// forwarded by an internal publisher.
func waitCluster(ctx context.Context, wait func(func(error))) error {
	errc := make(chan error, 1)
	wait(func(err error) { errc <- err })
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("not stored by every node: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the cluster: %w", ctx.Err())
	}
}

// afterStored calls after once what was routed so far is stored.
func (s *Server) afterStored(after func(error)) {
	if after == nil {
		return
	}
	if p := s.acks(); p != nil {
		p.after(after)
		return
	}
	after(nil)
}

// ackGate keeps a connection's PUBACK and PUBREC in PUBLISH order while
// some wait for other nodes (and the store): an acknowledgement is sent
// once it and every one before it are ready.
type ackGate struct {
	mu sync.Mutex
	q  []*gatedAck
}

type gatedAck struct {
	it    outItem
	waits int
	err   error
}

// ackGated queues it behind the connection's earlier gated acks; it is sent
// when the store committed (when there is a store) and wait, if any, said
// the other nodes have it. It returns false when no gating is needed.
func (c *conn) ackGated(it outItem, wait func(func(error))) bool {
	if wait == nil && !c.gateBusy() {
		return false
	}
	g := c.ackGate()
	a := &gatedAck{it: it}
	p := c.s.acks()
	g.mu.Lock()
	g.q = append(g.q, a)
	if wait != nil {
		a.waits++
	}
	if p != nil {
		a.waits++
	}
	if a.waits == 0 {
		a.waits = 1
		defer c.releaseAck(a, nil)
	}
	g.mu.Unlock()
	if p != nil {
		p.after(func(err error) { c.releaseAck(a, err) })
	}
	if wait != nil {
		wait(func(err error) { c.releaseAck(a, err) })
	}
	return true
}

func (c *conn) gateBusy() bool {
	g := c.gate.Load()
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.q) > 0
}

func (c *conn) ackGate() *ackGate {
	if g := c.gate.Load(); g != nil {
		return g
	}
	c.gate.CompareAndSwap(nil, &ackGate{})
	return c.gate.Load()
}

// releaseAck marks one wait of a done; acks at the head of the gate whose
// waits are all done are sent, in order. An error closes the connection
// without the acknowledgement: the client sends the message again.
//
// The acks are queued under the gate's lock, so that two releases on
// different goroutines (the store's committer, the cluster's acknowledgement
// reader) cannot swap them, and written by the caller when the connection's
// writer is idle (write_inline.go): every caller holds no lock. Before,
// each acknowledgement of a message stored by other nodes started a writer
// goroutine of its own (docs/design.md, "Cross-node latency").
func (c *conn) releaseAck(a *gatedAck, err error) {
	g := c.ackGate()
	g.mu.Lock()
	a.waits--
	if err != nil && a.err == nil {
		a.err = err
	}
	var failed error
	start := false
	for len(g.q) > 0 && g.q[0].waits == 0 {
		r := g.q[0]
		g.q[0] = nil
		g.q = g.q[1:]
		if r.err != nil {
			failed = r.err
			break
		}
		_, st := c.push(r.it)
		start = start || st
	}
	g.mu.Unlock()
	if start {
		c.startWriter()
	}
	if failed != nil {
		c.s.stats.clusterAckFailed.Add(1)
		c.closeWith(packet.UnspecifiedError, "cluster_error", "message not stored by every node: "+failed.Error())
	}
}
