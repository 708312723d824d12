package cluster

import (
	"encoding/binary"
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
	targets := len(t.Nodes) + len(t.Groups)
	if targets == 0 && !n.ns.GlobalAccount().SubscriptionInterest(subject) {
		n.mu.Unlock()
		return 0, nil // nobody anywhere: no frame at all
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
	if p == nil {
		return targets, nil
	}
	return targets, func(cb func(error)) { n.whenStored(p, cb) }
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
	n.mu.Lock()
	p := n.pending[seq]
	if p == nil {
		n.mu.Unlock()
		return
	}
	key := node
	if group != "" {
		key = group
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

func (n *Node) finishLocked(seq uint64, p *pendingForward, err error) []func(error) {
	delete(n.pending, seq)
	p.done, p.err = true, err
	cbs := p.cbs
	p.cbs, p.data = nil, nil
	return cbs
}

// retryForwards looks at forwards past their deadline: the route table may
// have changed (a node died, a session moved), so the nodes still expected
// are recomputed; those left get the message again (their duplicate check
// drops it if they had it, and they acknowledge again).
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
		topicName, err := TopicOf(p.subject)
		if err != nil {
			continue
		}
		t := n.core.Targets(topicName)
		clear(p.expected)
		for _, node := range t.Nodes {
			if !p.acked[node] {
				p.expected[node] = true
			}
		}
		for _, g := range t.Groups {
			if !p.acked[g.Filter] {
				p.expected[g.Filter] = true
			}
		}
		switch {
		case len(p.expected) == 0:
			finished = append(finished, done{n.finishLocked(seq, p, nil), nil})
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
	if dup {
		n.stats.duplicates.Add(1)
		if f.retry {
			ack(nil)
		}
		return
	}
	(*bp).DeliverRemote(f.m, ack)
}
