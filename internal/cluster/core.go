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
// its routes stop being a live node's at once (the route table never keeps
// a dead node's routes as live ones, the failure of comqtt and of EMQX after
// a node loss). They are kept as the routes of a lost node until every
// surviving node reports that it adopted the lost node's sessions (their
// subscriptions are then live elsewhere), or for lostHold: the QoS 1/2
// messages that match them wait, and are sent again once they are
// released (forward.go), so that none is acknowledged while the sessions
// it is for have no node.
type Core struct {
	self     string
	timeout  time.Duration
	lostHold time.Duration
	now      time.Time
	peers    map[string]*peer
	lost     map[string]*lostNode
	gone     map[string]uint64               // the incarnation each node was last declared gone in
	early    map[string]map[string]time.Time // lost node → reporters heard before this node lost it
	routes   *topic.Trie[struct{}]           // key: node name, or lostPrefix + node name
	dedupe   map[string]*window              // by origin node
}

// lostPrefix marks the route table keys of lost nodes' routes (node names
// are never empty, so "" + a name cannot be another node's key).
const lostPrefix = "\x00lost:"

// lostNode is a node declared gone whose routes are still held.
type lostNode struct {
	since   time.Time
	filters map[string]struct{}
	waiting map[string]bool // nodes (this one included) yet to report
	left    bool            // it said it leaves (not silent: not serving elsewhere)
}

// peer is what the Core knows of another node.
type peer struct {
	incarnation uint64
	seq         uint64 // last interest change applied
	synced      bool   // a snapshot was applied for this incarnation
	lastSeen    time.Time
	filters     map[string]struct{}
	// reports are adoption reports (lost node names) that arrived while
	// the peer's routes were not synced: applied once they are, since
	// the report vouches for interest the Core does not know yet.
	reports []string
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
	// EventAdopted: Node (this node included) adopted the sessions of
	// the lost node Lost that were its to adopt.
	EventAdopted
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
	Lost        string
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
	// held as a lost node's, and the sessions it owned are to be adopted
	// (then reported with EventAdopted).
	ActionNodeDown
	// ActionRelease: the lost Node's routes are purged (every survivor
	// adopted its share, or lostHold passed): the messages held for them
	// are to be sent again to the nodes with interest now.
	ActionRelease
)

// Action is one thing the driver must do.
type Action struct {
	Kind ActionKind
	Node string
	// Incarnation is the lost node's (ActionNodeDown): registry entries of
	// a later incarnation of it are not adopted.
	Incarnation uint64
	// Healed (ActionNodeUp): the node was declared gone in this same
	// incarnation: it was cut off, not restarted (a partition healed).
	Healed bool
}

// lostHoldFactor times the node timeout is how long a lost node's routes
// are held at most.
const lostHoldFactor = 20

// NewCore returns the Core of node self; nodes silent for timeout are gone.
func NewCore(self string, timeout time.Duration) *Core {
	return &Core{self: self, timeout: timeout, lostHold: lostHoldFactor * timeout, peers: make(map[string]*peer),
		lost: make(map[string]*lostNode), gone: make(map[string]uint64), early: make(map[string]map[string]time.Time),
		routes: topic.NewTrie[struct{}](), dedupe: make(map[string]*window)}
}

// Step applies one event at time now.
func (c *Core) Step(now time.Time, ev Event) []Action {
	c.now = now
	if ev.Kind == EventAdopted {
		if p := c.peers[ev.Node]; p != nil && !p.synced {
			p.reports = append(p.reports, ev.Lost)
			return nil
		}
		return c.adopted(ev.Node, ev.Lost)
	}
	if ev.Node == c.self || ev.Node == "" {
		return nil
	}
	if ev.Kind == EventLeave {
		if _, ok := c.peers[ev.Node]; !ok {
			return nil
		}
		acts := c.remove(ev.Node)
		if l := c.lost[ev.Node]; l != nil {
			l.left = true
		}
		return acts
	}
	var acts []Action
	p := c.peers[ev.Node]
	if p == nil || ev.Incarnation > p.incarnation {
		if p != nil {
			// A restart quicker than the timeout: the old life is lost
			// like a silent node (its routes held, its sessions adopted),
			// or messages forwarded to it and not stored would find no
			// route any more and count as delivered.
			acts = append(acts, c.remove(ev.Node)...)
		}
		delete(c.early, ev.Node) // reports of its loss are about an older life
		p = &peer{incarnation: ev.Incarnation, filters: make(map[string]struct{})}
		c.peers[ev.Node] = p
		healed := c.gone[ev.Node] == ev.Incarnation
		delete(c.gone, ev.Node)
		acts = append(acts, Action{Kind: ActionNodeUp, Node: ev.Node, Healed: healed})
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
		// Not synced yet (the snapshot request or its answer was lost),
		// or an announcement missed: ask (again) for a snapshot.
		if len(acts) == 0 && (!p.synced || ev.Seq != p.seq) {
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
			for _, lost := range p.reports {
				acts = append(acts, c.adopted(ev.Node, lost)...)
			}
			p.reports = nil
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
	var acts []Action
	for _, name := range gone {
		acts = append(acts, c.remove(name)...)
	}
	var held []string
	for name, l := range c.lost {
		// A node that does not see a majority (the minority side of a
		// partition) keeps holding: the nodes it lost may be serving
		// their sessions on the other side.
		if now.Sub(l.since) >= c.lostHold && c.Majority() {
			held = append(held, name)
		}
	}
	slices.Sort(held)
	for _, name := range held {
		acts = append(acts, c.release(name)...)
	}
	return acts
}

// Stalled tells the Core that its driver did not run for d (a paused or
// starved process): the peers' silence during it is not theirs (their
// heartbeats wait in this node's queue), so the time they were last heard
// of moves forward by d. It declares no node gone.
func (c *Core) Stalled(d time.Duration) {
	for _, p := range c.peers {
		p.lastSeen = p.lastSeen.Add(d)
	}
}

// remove declares node name gone: its plain routes become a lost node's
// (its shared-group memberships go at once: the other members serve the
// group), and it reports no adoption any more.
func (c *Core) remove(name string) []Action {
	p := c.peers[name]
	delete(c.peers, name)
	delete(c.dedupe, name)
	c.gone[name] = p.incarnation
	l := c.lost[name]
	if l == nil {
		l = &lostNode{filters: make(map[string]struct{})}
		c.lost[name] = l
	}
	l.since, l.left = c.now, false
	l.waiting = map[string]bool{c.self: true}
	for peer := range c.peers {
		l.waiting[peer] = true
	}
	// Nodes that lost it first may have reported already.
	for reporter, at := range c.early[name] {
		if c.now.Sub(at) < c.lostHold {
			delete(l.waiting, reporter)
		}
	}
	delete(c.early, name)
	for f := range p.filters {
		c.routes.Unsubscribe(f, name)
		if !strings.HasPrefix(f, topic.SharePrefix) {
			if _, err := c.routes.Subscribe(f, lostPrefix+name, struct{}{}); err == nil {
				l.filters[f] = struct{}{}
			}
		}
	}
	clear(p.filters)
	acts := []Action{{Kind: ActionNodeDown, Node: name, Incarnation: p.incarnation}}
	if len(l.waiting) == 0 {
		acts = append(acts, c.release(name)...)
	}
	for other := range c.lost {
		if other != name {
			acts = append(acts, c.adopted(name, other)...)
		}
	}
	return acts
}

// adopted records that node adopted its share of lost's sessions; the
// last report releases lost's routes.
func (c *Core) adopted(node, lost string) []Action {
	l := c.lost[lost]
	if l == nil {
		if _, alive := c.peers[lost]; alive && lost != c.self {
			// Another node lost it first: remembered until this one does.
			if c.early[lost] == nil {
				c.early[lost] = make(map[string]time.Time)
			}
			c.early[lost][node] = c.now
		}
		return nil
	}
	if !l.waiting[node] {
		return nil
	}
	delete(l.waiting, node)
	if len(l.waiting) > 0 {
		return nil
	}
	return c.release(lost)
}

// release purges lost's held routes.
func (c *Core) release(lost string) []Action {
	l := c.lost[lost]
	for f := range l.filters {
		c.routes.Unsubscribe(f, lostPrefix+lost)
	}
	delete(c.lost, lost)
	return []Action{{Kind: ActionRelease, Node: lost}}
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
// filter, the lost nodes whose held routes match, and the matching shared
// groups ("$share/g/f", with the nodes that hold members of each).
type Targets struct {
	Nodes  []string
	Lost   []string
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
		if name, ok := strings.CutPrefix(e.Key, lostPrefix); ok {
			if !slices.Contains(t.Lost, name) {
				t.Lost = append(t.Lost, name)
			}
		} else if !slices.Contains(t.Nodes, e.Key) {
			t.Nodes = append(t.Nodes, e.Key)
		}
	}
	slices.Sort(t.Nodes)
	slices.Sort(t.Lost)
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

// Back reports whether node, lost in its incarnation inc, is live again in
// that same incarnation (a partition healed) with its routes synced.
func (c *Core) Back(node string, inc uint64) bool {
	p := c.peers[node]
	return p != nil && inc != 0 && p.incarnation == inc && p.synced
}

// Majority reports whether this node sees more than half of the nodes it
// knows (live ones, itself included, and lost ones still held that did
// not say they leave) live.
func (c *Core) Majority() bool {
	known := 1 + len(c.peers)
	for name, l := range c.lost {
		if _, back := c.peers[name]; !back && !l.left {
			known++
		}
	}
	return 2*(1+len(c.peers)) > known
}

// Lost returns the lost nodes whose routes are held, sorted.
func (c *Core) Lost() []string {
	out := make([]string, 0, len(c.lost))
	for n := range c.lost {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Holds reports whether node's routes are held as a lost node's.
func (c *Core) Holds(node string) bool {
	_, ok := c.lost[node]
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
