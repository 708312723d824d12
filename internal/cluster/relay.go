package cluster

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// A live takeover moves a session from this node (A) to the node that
// claimed it (B) while messages for it are on their way: a message that
// reached A just after A gave the session up, and that B's subscriptions
// were not yet known for where it entered, used to be acknowledged by A
// without reaching the session (docs/cluster.md). Now A keeps, for a
// while (relayHold), the interest of the session's filters (the other
// nodes keep sending their messages here) and passes every message that
// matches them, once delivered locally, on to B (the relay method), and
// acknowledges it only once B stored it in the session. The check comes
// after the local delivery: a message delivered before the session left
// went with it, and is relayed as well if the relay was set up meanwhile
// (a duplicate, QoS 1 allows it), never neither.
//
// B gets most of those messages twice: once from the route (its own
// subscriptions are known by then) and once passed on. For the same while
// B notes, per session it took live, the identities of the messages (the
// forwarding node's name, life and sequence number) each path gave it:
// the relay skips one the route gave the session, and the route leaves
// the session out for one the relay gave it.

// Headers of the takeover request and of a relayed message.
const (
	hdrNode   = "Iothub-Node"   // the node that claims the session
	hdrClient = "Iothub-Client" // the relayed message's client id
	hdrTopic  = "Iothub-Topic"  // the relayed message's topic
)

// relayHold is how long a node that gave a session up passes the messages
// for it on: max(NodeTimeout, 4 × ForwardTimeout), far beyond the time
// the new node's subscriptions take to be known by every node.
func (n *Node) relayHold() time.Duration {
	return max(n.opts.NodeTimeout, 4*n.opts.ForwardTimeout)
}

// movedSession is a session this node gave up to node, with the plain
// filters whose messages it passes on until until.
type movedSession struct {
	id, node string
	filters  []string
}

// relays holds the sessions given up and passed on to, and the sessions
// taken live from another node.
type relays struct {
	mu       sync.RWMutex
	moved    map[string]*movedSession    // by client id
	incoming map[string]*incomingSession // by client id
}

// frameKey identifies a forwarded message cluster-wide.
type frameKey struct {
	node     string
	inc, seq uint64
}

// incomingSession is a session taken live from another node, while that
// node may pass messages on: which messages reached it by which path.
type incomingSession struct {
	open    bool // the claim is done: the session and its filters are here
	filters []string
	direct  map[frameKey]struct{} // given to it by the route (or published here)
	relayed map[frameKey]struct{} // given to it by the relay
}

// expectRelays notes that clientID's session is being taken live from
// another node; opened (the claim's end) makes it count, drop forgets it
// (the takeover did not happen).
func (n *Node) expectRelays(clientID string) (opened, drop func()) {
	in := &incomingSession{direct: map[frameKey]struct{}{}, relayed: map[frameKey]struct{}{}}
	n.rl.mu.Lock()
	n.rl.incoming[clientID] = in
	n.rl.mu.Unlock()
	forget := func() {
		n.rl.mu.Lock()
		if n.rl.incoming[clientID] == in {
			delete(n.rl.incoming, clientID)
		}
		n.rl.mu.Unlock()
	}
	opened = func() {
		var filters []string
		if bp := n.broker.Load(); bp != nil {
			filters = (*bp).SessionFilters(clientID)
		}
		n.rl.mu.Lock()
		in.open, in.filters = true, filters
		n.rl.mu.Unlock()
		// The old node passes messages on for relayHold; then the marks
		// go (a relay still on its way after that is delivered: at
		// worst a duplicate).
		time.AfterFunc(n.relayHold()+2*n.opts.ForwardTimeout, forget)
	}
	return opened, forget
}

// routedDirect is called before the route gives the message key to this
// node's sessions: it returns the sessions taken live that the relay gave
// it to already (to leave out), and notes it for the others.
func (n *Node) routedDirect(key frameKey, topicName string) []string {
	if key.seq == 0 {
		return nil
	}
	n.rl.mu.RLock()
	none := len(n.rl.incoming) == 0
	n.rl.mu.RUnlock()
	if none {
		return nil
	}
	n.rl.mu.Lock()
	defer n.rl.mu.Unlock()
	var except []string
	for id, in := range n.rl.incoming {
		if !in.open || !matchesAny(in.filters, topicName) {
			continue
		}
		if _, done := in.relayed[key]; done {
			except = append(except, id)
			continue
		}
		in.direct[key] = struct{}{}
	}
	return except
}

// relayedIn reports whether a message passed on for clientID is to be
// delivered (the route did not give it to the session), noting it.
func (n *Node) relayedIn(clientID string, key frameKey) bool {
	n.rl.mu.Lock()
	defer n.rl.mu.Unlock()
	in := n.rl.incoming[clientID]
	if in == nil || key.seq == 0 {
		return true
	}
	if _, done := in.direct[key]; done {
		return false
	}
	in.relayed[key] = struct{}{}
	return true
}

func matchesAny(filters []string, topicName string) bool {
	for _, f := range filters {
		if topic.Match(f, topicName) {
			return true
		}
	}
	return false
}

// handOver gives clientID's session up to node (the claimer): the
// session's filters keep their interest here, the session leaves under
// the relays' lock (a message delivered here after it left finds the
// relay set up), and the relay ends after relayHold.
func (n *Node) handOver(b Broker, clientID, node string) []byte {
	if node == "" || node == n.opts.Name {
		return b.TakeSession(clientID)
	}
	var filters []string
	for _, f := range b.SessionFilters(clientID) {
		if !strings.HasPrefix(f, "$share/") {
			filters = append(filters, f)
			n.Interest(f, true) // held: the nodes keep sending them here
		}
	}
	ms := &movedSession{id: clientID, node: node, filters: filters}
	n.rl.mu.Lock()
	state := b.TakeSession(clientID)
	if state != nil && len(filters) > 0 {
		if old := n.rl.moved[clientID]; old != nil {
			defer n.releaseFilters(old.filters)
		}
		n.rl.moved[clientID] = ms
	}
	n.rl.mu.Unlock()
	if state == nil || len(filters) == 0 {
		n.releaseFilters(filters)
		return state
	}
	time.AfterFunc(n.relayHold(), func() { n.endRelay(clientID, ms) })
	return state
}

// endRelay stops passing clientID's messages on (ms, or any when nil): the
// hold ended, or the client id has a session here again.
func (n *Node) endRelay(clientID string, ms *movedSession) {
	n.rl.mu.Lock()
	cur := n.rl.moved[clientID]
	if cur == nil || (ms != nil && cur != ms) {
		n.rl.mu.Unlock()
		return
	}
	delete(n.rl.moved, clientID)
	n.rl.mu.Unlock()
	n.releaseFilters(cur.filters)
}

func (n *Node) releaseFilters(filters []string) {
	for _, f := range filters {
		n.Interest(f, false)
	}
}

// movedFor returns the sessions given up whose filters match topicName.
func (n *Node) movedFor(topicName string) []*movedSession {
	n.rl.mu.RLock()
	defer n.rl.mu.RUnlock()
	if len(n.rl.moved) == 0 {
		return nil
	}
	var out []*movedSession
	for _, ms := range n.rl.moved {
		if matchesAny(ms.filters, topicName) {
			out = append(out, ms)
		}
	}
	return out
}

// relayAll passes m (forwarded as key) on to the nodes the sessions in to
// moved to, and calls done with nil once each stored it (or has no such
// session any more), or with the first error.
func (n *Node) relayAll(to []*movedSession, key frameKey, m *msg.Message, done func(error)) {
	data := appendFrame(nil, &frame{node: key.node, inc: key.inc, seq: key.seq, m: m})
	go func() {
		var first error
		for _, ms := range to {
			if err := n.relay(ms, m.Topic, data); err != nil && first == nil {
				first = err
			}
		}
		done(first)
	}()
}

func (n *Node) relay(ms *movedSession, topicName string, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*n.opts.ForwardTimeout)
	defer cancel()
	req := &nats.Msg{Subject: subjRPC + nodeToken(ms.node) + ".relay", Data: data, Header: nats.Header{}}
	req.Header.Set(hdrClient, ms.id)
	req.Header.Set(hdrTopic, topicName)
	if _, err := n.nc.RequestMsgWithContext(ctx, req); err != nil {
		n.stats.relayFailed.Add(1)
		n.log.Warn("message for a session taken over not passed on; its sender sends it again", "client_id", ms.id, "node", ms.node, "error", err)
		return err
	}
	n.stats.relayed.Add(1)
	return nil
}

// onRelay stores a message another node passed on for a session this node
// took from it; it waits for the claim of the client id here to finish
// (the session is open then).
func (n *Node) onRelay(m *nats.Msg) {
	id, topicName := m.Header.Get(hdrClient), m.Header.Get(hdrTopic)
	f, err := decodeFrame(m.Data, topicName)
	if err != nil || id == "" {
		n.stats.malformed.Add(1)
		return
	}
	go func() {
		unlock := n.lockClient(id)
		defer unlock()
		bp := n.broker.Load()
		if bp == nil {
			return
		}
		if !n.relayedIn(id, frameKey{f.node, f.inc, f.seq}) {
			n.stats.duplicates.Add(1)
			_ = m.Respond(nil) // the route gave it to the session
			return
		}
		(*bp).DeliverTo(id, f.m, func(err error) {
			if err == nil {
				_ = m.Respond(nil)
			}
		})
	}()
}
