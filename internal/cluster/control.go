package cluster

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/iothub-dev/iothub/mqtt/topic"
)

// Control subjects. Node names are escaped like topic levels, so a name
// holding "." stays one token.
const (
	subjControl   = "iothub.ctl.*"
	subjHeartbeat = "iothub.ctl.hb"
	subjInterest  = "iothub.ctl.int"
	subjLeave     = "iothub.ctl.leave"
	subjAdopted   = "iothub.ctl.adopted"
	subjSnapshot  = "iothub.ctl.snap." // + node
	subjAck       = "iothub.ack."      // + node
	subjRPC       = "iothub.rpc."      // + node + "." + method
)

func nodeToken(name string) string { return string(appendLevel(nil, name)) }

// control is the JSON body of heartbeats, interest changes, leaves and
// snapshots.
type control struct {
	Node        string   `json:"node"`
	Incarnation uint64   `json:"inc"`
	Seq         uint64   `json:"seq"`
	Add         bool     `json:"add,omitempty"`
	Filter      string   `json:"filter,omitempty"`
	Filters     []string `json:"filters,omitempty"`
	Lost        string   `json:"lost,omitempty"`
}

func (n *Node) subscribeControl() error {
	// One subscription for every broadcast control message, so that they
	// are handled in the order each node sent them (an adoption report
	// after the interest its adoption announced).
	kinds := map[string]EventKind{subjHeartbeat: EventHeartbeat, subjInterest: EventInterest, subjLeave: EventLeave, subjAdopted: EventAdopted}
	if _, err := n.nc.Subscribe(subjControl, func(m *nats.Msg) {
		if kind, ok := kinds[m.Subject]; ok {
			n.onControl(kind, m.Data)
		}
	}); err != nil {
		return fmt.Errorf("cluster: subscribe %s: %w", subjControl, err)
	}
	if _, err := n.nc.Subscribe(subjSnapshot+nodeToken(n.opts.Name), n.onSnapshotRequest); err != nil {
		return fmt.Errorf("cluster: subscribe snapshots: %w", err)
	}
	if _, err := n.nc.Subscribe(subjAck+nodeToken(n.opts.Name), n.onAck); err != nil { // forward.go
		return fmt.Errorf("cluster: subscribe acks: %w", err)
	}
	if _, err := n.nc.Subscribe(subjRPC+nodeToken(n.opts.Name)+".takeover", n.onTakeover); err != nil { // registry.go
		return fmt.Errorf("cluster: subscribe takeovers: %w", err)
	}
	if _, err := n.nc.Subscribe(subjRPC+nodeToken(n.opts.Name)+".fence", n.onFence); err != nil { // registry.go
		return fmt.Errorf("cluster: subscribe fences: %w", err)
	}
	if _, err := n.nc.Subscribe(subjRPC+nodeToken(n.opts.Name)+".relay", n.onRelay); err != nil { // relay.go
		return fmt.Errorf("cluster: subscribe relays: %w", err)
	}
	return n.subscribeRPC() // rpc.go
}

func (n *Node) onControl(kind EventKind, data []byte) {
	var c control
	if err := json.Unmarshal(data, &c); err != nil {
		n.log.Warn("malformed cluster control message", "error", err)
		return
	}
	ev := Event{Kind: kind, Node: c.Node, Incarnation: c.Incarnation, Seq: c.Seq, Add: c.Add, Filter: c.Filter, Lost: c.Lost}
	n.mu.Lock()
	acts := n.core.Step(time.Now(), ev)
	n.mu.Unlock()
	n.act(acts)
}

// act carries out the Core's actions, with no lock held.
func (n *Node) act(acts []Action) {
	for _, a := range acts {
		switch a.Kind {
		case ActionRequestSnapshot:
			go n.requestSnapshot(a.Node)
		case ActionNodeUp:
			n.log.Info("node joined", "node", a.Node, "healed", a.Healed)
			if a.Healed {
				// Both sides check their sessions against the registry
				// (the healed node may not have lost this one: it is
				// asked to).
				go n.sweep() // registry.go
				_ = n.nc.Publish(subjRPC+nodeToken(a.Node)+".fence", nil)
			}
		case ActionNodeDown:
			n.stats.nodesLost.Add(1)
			n.log.Warn("node gone; the messages for its routes wait until its sessions are adopted", "node", a.Node)
			n.holdForLost(a.Node)             // forward.go
			n.nodeDown(a.Node, a.Incarnation) // adopt.go
		case ActionRelease:
			n.log.Info("lost node's routes released", "node", a.Node)
			n.replayLost(a.Node) // forward.go
		}
	}
}

func (n *Node) requestSnapshot(node string) {
	reply, err := n.nc.Request(subjSnapshot+nodeToken(node), nil, n.opts.ForwardTimeout)
	if err != nil {
		n.log.Debug("snapshot request failed; the next heartbeat asks again", "node", node, "error", err)
		return
	}
	var c control
	if err := json.Unmarshal(reply.Data, &c); err != nil {
		n.log.Warn("malformed snapshot", "node", node, "error", err)
		return
	}
	n.mu.Lock()
	acts := n.core.Step(time.Now(), Event{Kind: EventSnapshot, Node: c.Node, Incarnation: c.Incarnation, Seq: c.Seq, Filters: c.Filters})
	n.mu.Unlock()
	n.act(acts)
}

func (n *Node) onSnapshotRequest(m *nats.Msg) {
	n.mu.Lock()
	c := control{Node: n.opts.Name, Incarnation: n.inc, Seq: n.iseq, Filters: make([]string, 0, len(n.filters))}
	for f := range n.filters {
		c.Filters = append(c.Filters, f)
	}
	n.mu.Unlock()
	b, _ := json.Marshal(c)
	_ = m.Respond(b)
}

func (n *Node) heartbeat() {
	n.mu.Lock()
	b, _ := json.Marshal(control{Node: n.opts.Name, Incarnation: n.inc, Seq: n.iseq})
	n.mu.Unlock()
	_ = n.nc.Publish(subjHeartbeat, b)
}

func (n *Node) announceLeave() {
	if n.nc == nil {
		return
	}
	b, _ := json.Marshal(control{Node: n.opts.Name, Incarnation: n.inc})
	_ = n.nc.Publish(subjLeave, b)
}

// Interest implements broker.Cluster: the first (filter, client) pair of a
// filter subscribes the node to its subjects and announces it; the last
// one undoes that. It does not block: the subscriptions are buffered by
// the in-process connection.
func (n *Node) Interest(filter string, add bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	lf := n.filters[filter]
	if add {
		if lf == nil {
			lf = &localFilter{subs: n.subscribeFilterLocked(filter)}
			n.filters[filter] = lf
			n.announceLocked(filter, true)
		}
		lf.refs++
		return
	}
	if lf == nil {
		return
	}
	if lf.refs--; lf.refs > 0 {
		return
	}
	for _, s := range lf.subs {
		_ = s.Unsubscribe()
	}
	delete(n.filters, filter)
	if group, _ := splitShared(filter); group != "" {
		n.core.AddLocalShared(filter, false)
		delete(n.queues, queueName(filter))
	}
	n.announceLocked(filter, false)
}

func (n *Node) subscribeFilterLocked(filter string) []*nats.Subscription {
	group, inner := splitShared(filter)
	var subs []*nats.Subscription
	if group == "" {
		for _, subj := range SubjectsOf(filter) {
			s, err := n.nc.ChanSubscribe(subj, n.recv)
			if err != nil {
				n.log.Error("cluster subscription failed", "filter", filter, "error", err)
				continue
			}
			subs = append(subs, s)
		}
		return subs
	}
	q := queueName(filter)
	n.queues[q] = filter
	n.core.AddLocalShared(filter, true)
	for _, subj := range SubjectsOf(inner) {
		s, err := n.qc.ChanQueueSubscribe(subj, q, n.shared)
		if err != nil {
			n.log.Error("cluster subscription failed", "filter", filter, "error", err)
			continue
		}
		subs = append(subs, s)
	}
	return subs
}

// splitShared returns the group and inner filter of "$share/g/f", and ""
// and filter itself for any other filter.
func splitShared(filter string) (group, inner string) {
	if !strings.HasPrefix(filter, topic.SharePrefix) {
		return "", filter
	}
	g, in, err := topic.SplitShare(filter)
	if err != nil {
		return "", filter
	}
	return g, in
}

// queueName is the NATS queue group of a shared subscription: a hash, as
// group names may hold characters queue names cannot.
func queueName(filter string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(filter))
	return "s" + strconv.FormatUint(h.Sum64(), 36)
}

func (n *Node) announceLocked(filter string, add bool) {
	n.iseq++
	b, _ := json.Marshal(control{Node: n.opts.Name, Incarnation: n.inc, Seq: n.iseq, Add: add, Filter: filter})
	_ = n.nc.Publish(subjInterest, b)
}
