package cluster

import (
	"bytes"
	"encoding/binary"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/iothub-dev/iothub/msg"
)

// pendingForward is a QoS 1/2 message forwarded and not yet stored by every
// node (and shared group) that takes it; the publisher's PUBACK waits.
type pendingForward struct {
	subject  string
	data     []byte
	expected map[string]bool // node names and "$share/..." group filters
	acked    map[string]bool
	deadline time.Time
	attempts int
	sentAt   time.Time

	done bool
	err  error
	cbs  []func(error)
}

// Forward implements broker.Cluster: it publishes m on its topic's subject
// (NATS sends it to the nodes with interest, once each) and, for QoS 1/2,
// returns a wait that ends when each node and shared group the route table
// names has stored it.
func (n *Node) Forward(m *msg.Message) (int, func(func(error))) {
	subject := SubjectOf(m.Topic)
	n.mu.Lock()
	t := n.core.Targets(m.Topic)
	targets := len(t.Nodes) + len(t.Groups) + len(t.Lost)
	if targets == 0 && !n.ns.GlobalAccount().SubscriptionInterest(subject) {
		n.mu.Unlock()
		return n.withRelays(m, frameKey{}, 0, nil) // nobody anywhere: no frame at all
	}
	seq := n.seq.Add(1)
	data := appendFrame(make([]byte, 0, 64+len(m.Payload)), &frame{node: n.opts.Name, inc: n.inc, seq: seq, m: m})
	var p *pendingForward
	if m.QoS > 0 && targets > 0 {
		now := time.Now()
		p = &pendingForward{subject: subject, data: data, expected: make(map[string]bool, targets), acked: map[string]bool{},
			deadline: now.Add(n.opts.ForwardTimeout), attempts: 1, sentAt: now}
		for _, node := range t.Nodes {
			p.expected[node] = true
		}
		for _, g := range t.Groups {
			p.expected[g.Filter] = true
		}
		for _, l := range t.Lost {
			p.expected[lostPrefix+l] = true
		}
		n.pending[seq] = p
	}
	n.mu.Unlock()
	msgOut := &nats.Msg{Subject: subject, Data: data}
	if p != nil {
		msgOut.Reply = subjAck + nodeToken(n.opts.Name)
	}
	if err := n.nc.PublishMsg(msgOut); err != nil {
		n.log.Warn("cluster forward failed", "topic", m.Topic, "error", err)
	}
	n.stats.forwarded.Add(1)
	n.stats.forwardedBytes.Add(uint64(len(data)))
	key := frameKey{n.opts.Name, n.inc, seq}
	n.routedDirect(key, m.Topic) // the broker routed m here before
	return n.withRelays(m, key, targets, p)
}

// withRelays adds to a forward the relay of m to the nodes that took a
// matching session from this one (relay.go); the broker routed m locally
// before, so a session that left before that finds its relay here.
func (n *Node) withRelays(m *msg.Message, key frameKey, targets int, p *pendingForward) (int, func(func(error))) {
	moved := n.movedFor(m.Topic)
	if len(moved) == 0 {
		if p == nil {
			return targets, nil
		}
		return targets, func(cb func(error)) { n.whenStored(p, cb) }
	}
	relayed := make(chan error, 1)
	n.relayAll(moved, key, m, func(err error) { relayed <- err })
	if m.QoS == 0 {
		return targets, nil
	}
	return targets + 1, func(cb func(error)) {
		go func() {
			err := <-relayed
			if p == nil || err != nil {
				cb(err)
				return
			}
			n.whenStored(p, cb)
		}()
	}
}

func (n *Node) whenStored(p *pendingForward, cb func(error)) {
	n.mu.Lock()
	if !p.done {
		p.cbs = append(p.cbs, cb)
		n.mu.Unlock()
		return
	}
	err := p.err
	n.mu.Unlock()
	cb(err)
}

// ack is the body of a forward acknowledgement: the sequence number, the
// node that stored the message and, for a shared group, its filter.
func appendAck(dst []byte, seq uint64, node, group string) []byte {
	dst = binary.AppendUvarint(dst, seq)
	return appendString(appendString(dst, node), group)
}

func (n *Node) onAck(m *nats.Msg) {
	d := decoder{b: m.Data}
	seq, node, group := d.uvarint(), d.str(), d.str()
	if d.err != nil {
		return
	}
	key := node
	if group != "" {
		key = group
	}
	n.stored(seq, key)
}

// stored records that the node or group key stored forward seq.
func (n *Node) stored(seq uint64, key string) {
	n.mu.Lock()
	p := n.pending[seq]
	if p == nil {
		n.mu.Unlock()
		return
	}
	p.acked[key] = true
	delete(p.expected, key)
	var cbs []func(error)
	if len(p.expected) == 0 {
		cbs = n.finishLocked(seq, p, nil)
		n.stats.observeAck(time.Since(p.sentAt))
	}
	n.mu.Unlock()
	for _, cb := range cbs {
		cb(nil)
	}
}

// fail ends forward seq with err (the publisher gets no PUBACK).
func (n *Node) fail(seq uint64, err error) {
	n.mu.Lock()
	var cbs []func(error)
	if p := n.pending[seq]; p != nil {
		cbs = n.finishLocked(seq, p, err)
	}
	n.mu.Unlock()
	for _, cb := range cbs {
		cb(err)
	}
}

func (n *Node) finishLocked(seq uint64, p *pendingForward, err error) []func(error) {
	delete(n.pending, seq)
	p.done, p.err = true, err
	cbs := p.cbs
	p.cbs, p.data = nil, nil
	return cbs
}

// selfKey is the expected key of a replayed forward's delivery to this
// node's own sessions.
const selfKey = "\x00self"

// retryForwards looks at forwards past their deadline: the route table may
// have changed (a node died, a session moved), so the nodes still expected
// are recomputed; those left get the message again (their duplicate check
// drops it if they had it, and they acknowledge again). A forward that
// waits only for lost nodes' held routes (or its own node) is not sent
// again and does not use up its attempts: it waits for their release.
func (n *Node) retryForwards(now time.Time) {
	type done struct {
		cbs []func(error)
		err error
	}
	var finished []done
	var resend []*nats.Msg
	reply := subjAck + nodeToken(n.opts.Name)
	n.mu.Lock()
	for seq, p := range n.pending {
		if now.Before(p.deadline) {
			continue
		}
		if n.awaitsReplayLocked(p) {
			p.deadline = now.Add(n.opts.ForwardTimeout)
			continue
		}
		topicName, err := TopicOf(p.subject)
		if err != nil {
			continue
		}
		live := n.retargetLocked(p, topicName)
		switch {
		case len(p.expected) == 0:
			finished = append(finished, done{n.finishLocked(seq, p, nil), nil})
		case !live:
			p.deadline = now.Add(n.opts.ForwardTimeout)
		case p.attempts >= maxForwardAttempts:
			n.stats.forwardFailed.Add(1)
			finished = append(finished, done{n.finishLocked(seq, p, ErrNotStored), ErrNotStored})
		default:
			p.attempts++
			p.deadline = now.Add(n.opts.ForwardTimeout)
			p.data[1] |= flagRetry
			resend = append(resend, &nats.Msg{Subject: p.subject, Reply: reply, Data: p.data})
		}
	}
	n.mu.Unlock()
	for _, m := range resend {
		n.stats.retried.Add(1)
		_ = n.nc.PublishMsg(m)
	}
	for _, f := range finished {
		for _, cb := range f.cbs {
			cb(f.err)
		}
	}
}

// awaitsReplayLocked reports whether p waits for the routes of a lost node
// that the Core released but whose held forwards replayLost has not sent
// again yet: the release is a Core step, and the replay runs after it
// with n.mu let go in between. Retargeting p in that window would find no
// lost node any more and finish p as stored everywhere, and the session
// adopted from that node would never get the message (a loss seen in
// rolling restarts under load).
func (n *Node) awaitsReplayLocked(p *pendingForward) bool {
	for key := range p.expected {
		if lost, ok := strings.CutPrefix(key, lostPrefix); ok && !n.core.Holds(lost) {
			return true
		}
	}
	return false
}

// retargetLocked recomputes who p still waits for and reports whether a
// live node or group is among them (the message is to be sent again).
func (n *Node) retargetLocked(p *pendingForward, topicName string) bool {
	self := p.expected[selfKey]
	clear(p.expected)
	if self {
		p.expected[selfKey] = true
	}
	t := n.core.Targets(topicName)
	live := false
	for _, node := range t.Nodes {
		if !p.acked[node] {
			p.expected[node], live = true, true
		}
	}
	for _, g := range t.Groups {
		if !p.acked[g.Filter] {
			p.expected[g.Filter], live = true, true
		}
	}
	for _, l := range t.Lost {
		if !p.acked[l] {
			p.expected[lostPrefix+l] = true
		}
	}
	return live
}

// holdForLost makes the forwards that wait for node, gone, wait for the
// release of its routes instead (then replayLost sends them again).
func (n *Node) holdForLost(node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.pending {
		if p.expected[node] {
			delete(p.expected, node)
			p.expected[lostPrefix+node] = true
		}
	}
}

// replayLost sends again, as new messages, the forwards that waited for the
// released routes of lost: to every node with interest now and to this
// node's own sessions. The lost node's sessions were adopted (or resumed)
// somewhere since, and a node that stored the message before adopting one
// of them did not give it to that session; the others get a duplicate
// (QoS 1: allowed; docs/cluster.md).
func (n *Node) replayLost(lost string) {
	key := lostPrefix + lost
	reply := subjAck + nodeToken(n.opts.Name)
	type local struct {
		seq uint64
		m   *msg.Message
	}
	var resend []*nats.Msg
	var locals []local
	now := time.Now()
	n.mu.Lock()
	for seq, p := range n.pending {
		if !p.expected[key] {
			continue
		}
		topicName, err := TopicOf(p.subject)
		if err != nil {
			continue
		}
		f, err := decodeFrame(bytes.Clone(p.data), topicName)
		if err != nil {
			continue
		}
		delete(n.pending, seq)
		f.seq, f.retry = n.seq.Add(1), false
		p.data = appendFrame(nil, f)
		n.pending[f.seq] = p
		clear(p.acked)
		p.expected[selfKey] = true
		n.retargetLocked(p, topicName)
		p.attempts, p.deadline = 1, now.Add(n.opts.ForwardTimeout)
		resend = append(resend, &nats.Msg{Subject: p.subject, Reply: reply, Data: p.data})
		locals = append(locals, local{f.seq, f.m})
	}
	n.mu.Unlock()
	n.stats.replayed.Add(uint64(len(resend)))
	for _, m := range resend {
		_ = n.nc.PublishMsg(m)
	}
	bp := n.broker.Load()
	for _, l := range locals {
		if bp == nil {
			n.stored(l.seq, selfKey)
			continue
		}
		(*bp).DeliverRemote(l.m, nil, func(err error) {
			if err != nil {
				n.fail(l.seq, err)
				return
			}
			n.stored(l.seq, selfKey)
		})
	}
}

// recvLoop takes the messages of the node's plain filters, in the order the
// route delivered them, drops the copies a message has when several local
// filters match it, and hands the rest to the broker; a QoS 1/2 message is
// acknowledged to its sender once stored.
func (n *Node) recvLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.quit:
			return
		case m := <-n.recv:
			n.receive(m, "")
		}
	}
}

// sharedLoop takes the messages NATS chose this node for in a shared group.
func (n *Node) sharedLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.quit:
			return
		case m := <-n.shared:
			n.mu.Lock()
			filter := n.queues[m.Sub.Queue]
			n.mu.Unlock()
			if filter != "" {
				n.receive(m, filter)
			}
		}
	}
}

func (n *Node) receive(m *nats.Msg, group string) {
	name, err := TopicOf(m.Subject)
	var f *frame
	if err == nil {
		f, err = decodeFrame(m.Data, name)
	}
	if err != nil {
		n.stats.malformed.Add(1)
		n.log.Warn("malformed forwarded message dropped", "subject", m.Subject, "error", err)
		return
	}
	bp := n.broker.Load()
	if bp == nil {
		return
	}
	n.stats.received.Add(1)
	reply := m.Reply
	ack := func(err error) {
		if err == nil && reply != "" {
			_ = n.nc.Publish(reply, appendAck(nil, f.seq, n.opts.Name, group))
		}
	}
	if group != "" {
		(*bp).DeliverShared(f.m, group, ack)
		return
	}
	n.mu.Lock()
	dup := n.core.Seen(f.node, f.inc, f.seq)
	n.mu.Unlock()
	key := frameKey{f.node, f.inc, f.seq}
	if dup {
		n.stats.duplicates.Add(1)
		if f.retry {
			n.afterRelays(key, f.m, ack)
		}
		return
	}
	(*bp).DeliverRemote(f.m, n.routedDirect(key, f.m.Topic), func(err error) {
		if err != nil {
			ack(err)
			return
		}
		n.afterRelays(key, f.m, ack)
	})
}

// afterRelays calls ack once m is passed on to the nodes that took a
// matching session from this one (relay.go), at once when there are none.
// It runs after the local delivery: a session that left before that finds
// its relay set up.
func (n *Node) afterRelays(key frameKey, m *msg.Message, ack func(error)) {
	moved := n.movedFor(m.Topic)
	if len(moved) == 0 {
		ack(nil)
		return
	}
	n.relayAll(moved, key, m, ack)
}
