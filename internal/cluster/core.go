package cluster

import (
	"slices"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/mqtt/topic"
)

// Core is the deterministic half of a node: which other nodes are alive,
// and which MQTT filters each of them holds (the route table). It does no
// I/O and reads no clock: the driver feeds it with Step and Tick and carries
// out the Actions they return. It is not safe for concurrent use.
//
// A node announces every change of its filter set with a sequence number
// (per incarnation: a restarted node starts again from 0) and sends its
// sequence number in every heartbeat. A gap, an unknown node or a new
// incarnation make the Core ask that node for a full snapshot, and the
// node's routes are replaced by it: a missed announcement is repaired
// within one heartbeat. A node silent for longer than the timeout is gone:
// its routes are purged at once (the route table never keeps a dead node's
// routes, the failure of comqtt and of EMQX after a node loss).
type Core struct {
	self    string
	timeout time.Duration
	now     time.Time
	peers   map[string]*peer
	routes  *topic.Trie[struct{}] // key: node name
	dedupe  map[string]*window    // by origin node
}

// peer is what the Core knows of another node.
type peer struct {
	incarnation uint64
	seq         uint64 // last interest change applied
	synced      bool   // a snapshot was applied for this incarnation
	lastSeen    time.Time
	filters     map[string]struct{}
}

// EventKind says what an Event reports.
type EventKind uint8

// The events a driver feeds to Step.
const (
	// EventHeartbeat: node is alive at incarnation, its last interest
	// change is Seq.
	EventHeartbeat EventKind = iota + 1
	// EventInterest: node added (Add) or removed Filter as change Seq.
	EventInterest
	// EventSnapshot: node holds exactly Filters as of change Seq.
	EventSnapshot
	// EventLeave: node said it is leaving.
	EventLeave
)

// Event is one input of the Core.
type Event struct {
	Kind        EventKind
	Node        string
	Incarnation uint64
	Seq         uint64
	Add         bool
	Filter      string
	Filters     []string
}

// ActionKind says what the driver must do.
type ActionKind uint8

// The actions Step and Tick return.
const (
	// ActionRequestSnapshot: ask Node for its full filter set.
	ActionRequestSnapshot ActionKind = iota + 1
	// ActionNodeUp: Node joined (or came back with a new incarnation).
	ActionNodeUp
	// ActionNodeDown: Node is gone (timed out or left); its routes are
	// purged, and the sessions it owned are to be adopted.
	ActionNodeDown
)

// Action is one thing the driver must do.
type Action struct {
	Kind ActionKind
	Node string
}

// NewCore returns the Core of node self; nodes silent for timeout are gone.
func NewCore(self string, timeout time.Duration) *Core {
	return &Core{self: self, timeout: timeout, peers: make(map[string]*peer), routes: topic.NewTrie[struct{}](), dedupe: make(map[string]*window)}
}

// Step applies one event at time now.
func (c *Core) Step(now time.Time, ev Event) []Action {
	c.now = now
	if ev.Node == c.self || ev.Node == "" {
		return nil
	}
	if ev.Kind == EventLeave {
		if _, ok := c.peers[ev.Node]; !ok {
			return nil
		}
		c.remove(ev.Node)
		return []Action{{Kind: ActionNodeDown, Node: ev.Node}}
	}
	var acts []Action
	p := c.peers[ev.Node]
	if p == nil || ev.Incarnation > p.incarnation {
		if p != nil {
			c.purge(ev.Node, p)
		}
		p = &peer{incarnation: ev.Incarnation, filters: make(map[string]struct{})}
		c.peers[ev.Node] = p
		acts = append(acts, Action{Kind: ActionNodeUp, Node: ev.Node})
		if ev.Kind != EventSnapshot {
			acts = append(acts, Action{Kind: ActionRequestSnapshot, Node: ev.Node})
		}
	}
	if ev.Incarnation < p.incarnation {
		return acts // from an older life of the node: stale
	}
	p.lastSeen = now
	switch ev.Kind {
	case EventHeartbeat:
		if p.synced && ev.Seq != p.seq {
			acts = append(acts, Action{Kind: ActionRequestSnapshot, Node: ev.Node})
		}
	case EventInterest:
		switch {
		case !p.synced:
		case ev.Seq == p.seq+1:
			c.apply(ev.Node, p, ev.Filter, ev.Add)
			p.seq = ev.Seq
		case ev.Seq > p.seq+1:
			p.synced = false
			acts = append(acts, Action{Kind: ActionRequestSnapshot, Node: ev.Node})
		}
	case EventSnapshot:
		if !p.synced || ev.Seq >= p.seq {
			c.purge(ev.Node, p)
			for _, f := range ev.Filters {
				c.apply(ev.Node, p, f, true)
			}
			p.seq, p.synced = ev.Seq, true
		}
	}
	return acts
}

// Tick advances the clock to now; nodes silent for the timeout are gone.
func (c *Core) Tick(now time.Time) []Action {
	c.now = now
	var gone []string
	for name, p := range c.peers {
		if now.Sub(p.lastSeen) >= c.timeout {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	acts := make([]Action, 0, len(gone))
	for _, name := range gone {
		c.remove(name)
		acts = append(acts, Action{Kind: ActionNodeDown, Node: name})
	}
	return acts
}

func (c *Core) remove(name string) {
	c.purge(name, c.peers[name])
	delete(c.peers, name)
	delete(c.dedupe, name)
}

func (c *Core) apply(node string, p *peer, filter string, add bool) {
	if add {
		if _, err := c.routes.Subscribe(filter, node, struct{}{}); err == nil {
			p.filters[filter] = struct{}{}
		}
		return
	}
	c.routes.Unsubscribe(filter, node)
	delete(p.filters, filter)
}

func (c *Core) purge(node string, p *peer) {
	for f := range p.filters {
		c.routes.Unsubscribe(f, node)
	}
	clear(p.filters)
}

// Targets is who takes a message: the other nodes with a plain matching
// filter, and the matching shared groups ("$share/g/f", with the nodes that
// hold members of each).
type Targets struct {
	Nodes  []string
	Groups []Group
}

// Group is a shared subscription group and the nodes with members in it.
type Group struct {
	Filter string // "$share/{group}/{filter}"
	Nodes  []string
}

// Targets returns who takes a message on topic name, per the route table
// (this node's own plain filters are not in it: local delivery is the
// broker's). Nodes and group members are sorted.
func (c *Core) Targets(name string) Targets {
	var ms topic.Matches[struct{}]
	c.routes.Match(name, &ms)
	var t Targets
	for _, e := range ms.Subs {
		if !slices.Contains(t.Nodes, e.Key) {
			t.Nodes = append(t.Nodes, e.Key)
		}
	}
	slices.Sort(t.Nodes)
	for _, g := range ms.Shared {
		grp := Group{Filter: topic.SharePrefix + g.Name() + "/" + g.Filter()}
		for _, m := range g.Members() {
			grp.Nodes = append(grp.Nodes, m.Key)
		}
		slices.Sort(grp.Nodes)
		t.Groups = append(t.Groups, grp)
	}
	slices.SortFunc(t.Groups, func(a, b Group) int { return strings.Compare(a.Filter, b.Filter) })
	return t
}

// AddLocalShared records that this node holds a member of shared group
// filter (or no longer does), so that Targets counts this node for it.
func (c *Core) AddLocalShared(filter string, add bool) {
	if add {
		_, _ = c.routes.Subscribe(filter, c.self, struct{}{})
		return
	}
	c.routes.Unsubscribe(filter, c.self)
}

// Alive reports whether node is this node or a live peer.
func (c *Core) Alive(node string) bool {
	if node == c.self {
		return true
	}
	_, ok := c.peers[node]
	return ok
}

// Peers returns the live peers, sorted.
func (c *Core) Peers() []string {
	out := make([]string, 0, len(c.peers))
	for n := range c.peers {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// RouteCount returns how many filters node holds per the route table.
func (c *Core) RouteCount(node string) int {
	if p := c.peers[node]; p != nil {
		return len(p.filters)
	}
	return 0
}

// Seen reports whether message seq of origin's incarnation inc was already
// taken (and records it): a node may get one message on several of its
// subscriptions and again when its sender retries. A window of the last
// windowSize sequence numbers per origin is kept; older ones count as seen.
// A message of an older incarnation than the latest seen is never a
// duplicate (at least once).
func (c *Core) Seen(origin string, inc, seq uint64) bool {
	w := c.dedupe[origin]
	if w == nil || inc > w.inc {
		w = &window{inc: inc}
		c.dedupe[origin] = w
	}
	if inc < w.inc {
		return false
	}
	return w.seen(seq)
}

// windowSize is how many recent sequence numbers per origin the duplicate
// check remembers.
const windowSize = 1 << 16

// window is a sliding bitmap of the sequence numbers seen up to top.
type window struct {
	inc  uint64
	top  uint64
	bits [windowSize / 64]uint64
}

func (w *window) seen(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq > w.top {
		for s := w.top + 1; s <= seq && s <= w.top+windowSize; s++ {
			w.clear(s)
		}
		w.top = seq
		w.set(seq)
		return false
	}
	if w.top-seq >= windowSize {
		return true
	}
	if w.get(seq) {
		return true
	}
	w.set(seq)
	return false
}

func (w *window) get(s uint64) bool { return w.bits[(s/64)%uint64(len(w.bits))]&(1<<(s%64)) != 0 }
func (w *window) set(s uint64)      { w.bits[(s/64)%uint64(len(w.bits))] |= 1 << (s % 64) }
func (w *window) clear(s uint64)    { w.bits[(s/64)%uint64(len(w.bits))] &^= 1 << (s % 64) }
