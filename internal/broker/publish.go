package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// handlePublish routes an inbound PUBLISH and acknowledges it. QoS 2 is
// routed on PUBLISH (method A of the spec): a retransmitted PUBLISH with a
// packet id still awaiting PUBREL is answered with PUBREC and not routed
// again, so each QoS 2 message is delivered once.
func (c *conn) handlePublish(fh packet.FixedHeader, body []byte) error {
	c.ackMark = c.s.syncers.appends.Load() // ackPublishAfterCommit
	p := publishPool.Get().(*packet.Publish)
	defer func() { *p = packet.Publish{}; publishPool.Put(p) }()
	if err := p.Decode(fh, body, c.version); err != nil {
		return err
	}
	if c.traced() {
		c.tracePublishIn(fh, p)
	}
	if len(p.Properties.SubscriptionIDs) > 0 {
		return protoErr(packet.ProtocolError, "publish from a client carries a subscription identifier")
	}
	if err := c.resolveInboundAlias(p); err != nil {
		return err
	}
	if err := c.s.checkTopicLimits(p.Topic); err != nil {
		return protoErr(packet.TopicNameInvalid, "publish topic: %v", err)
	}
	if strings.HasPrefix(p.Topic, "$") && c.s.reserved.handler(p.Topic) == nil {
		// Clients may not publish into $SYS and other broker namespaces,
		// except to the request topics of a TopicHandler (reserved.go):
		// dropped like an unauthorized publish.
		return c.ackPublish(p, packet.NotAuthorized)
	}
	if !c.mayPublish(p) { // auth.go
		return c.publishDenied(p)
	}
	if c.rateLimitPublish(p) { // ratelimit.go
		return c.ackPublish(p, packet.QuotaExceeded)
	}
	if p.Retain && !c.s.opts.RetainAvailable {
		return protoErr(packet.RetainNotSupported, "retain not supported")
	}
	c.s.stats.messagesIn.Add(1)
	c.sess.msgsIn.Add(1)
	c.s.stats.messagesInQoS[min(p.QoS, 2)].Add(1)
	c.s.stats.payloadInQoS[min(p.QoS, 2)].Add(uint64(len(p.Payload)))
	if pst := c.s.pstore(); pst != nil { // persist.go
		defer pst.throttle()
		if p.QoS == 2 {
			defer pst.begin()()
		}
	}
	if p.QoS == 2 {
		dup, full := c.sess.markQoS2(p.PacketID, c.s.opts.MaxInflight)
		if full {
			return protoErr(packet.ReceiveMaximumExceeded, "more than %d QoS 2 messages awaiting PUBREL", c.s.opts.MaxInflight)
		}
		if dup {
			return c.ackPublish(p, packet.Success)
		}
	}
	m := c.newMessage(p)
	var dd Deduplicator
	if len(m.UserProperties) > 0 { // dedup.go: a resend of an edge?
		dup, d, end := c.s.dedupBegin(m, p.QoS)
		if dup {
			return c.ackPublish(p, packet.Success)
		}
		dd = d
		defer end()
	}
	var w *pubWait
	if dd == nil { // routed inside one commit: no waiting with the commit held
		w = c.newPubWait(p.QoS)
	}
	c.s.waitBudget(w) // budget.go
	r := c.s.publishWait(m, w)
	if dd != nil {
		if k, v := dd.Routed(m); k != nil {
			if pst := c.s.pstore(); pst != nil {
				pst.put(k, v)
			}
		}
	}
	if w != nil {
		w.done()
	}
	return c.ackPublishWait(p, r.code(c.version), r.wait)
}

// routed counts what became of one message's deliveries.
type routed struct {
	accepted int // written, in flight or queued
	full     int // dropped by a queue-full policy
	// remote counts the other nodes (and shared groups) the message was
	// forwarded to; wait, when set, says when they stored it (cluster.go).
	remote int
	wait   func(func(error))
}

// code is the PUBACK/PUBREC reason code for a v5 publisher: No matching
// subscribers when nobody took it, Quota exceeded when every subscriber
// that could take it had no room (drop_new, or the memory budget).
func (r routed) code(v packet.Version) packet.ReasonCode {
	switch {
	case v != packet.V5 || r.accepted > 0 || r.remote > 0:
		return packet.Success
	case r.full > 0:
		return packet.QuotaExceeded
	}
	return packet.NoMatchingSubscribers
}

// publishPool holds decode targets for inbound PUBLISH packets, so that a
// connection does not carry one (a Publish is a few hundred bytes).
var publishPool = sync.Pool{New: func() any { return new(packet.Publish) }}

// tracePublishIn logs an inbound PUBLISH of a traced client.
func (c *conn) tracePublishIn(fh packet.FixedHeader, p *packet.Publish) {
	c.logger().Info("trace", "client_id", c.sess.id, "dir", "in", "type", "PUBLISH", "remaining_length", fh.RemainingLength,
		"topic", p.Topic, "qos", p.QoS, "retain", p.Retain, "dup", p.Dup, "packet_id", p.PacketID, "payload", tracePayload(p.Payload))
}

// ackPublish answers PUBACK (QoS 1) or PUBREC (QoS 2). For 3.1.1 a refused
// publish is acknowledged as success (3.1.1 has no reason codes) and dropped.
func (c *conn) ackPublish(p *packet.Publish, code packet.ReasonCode) error {
	return c.ackPublishWait(p, code, nil)
}

// ackPublishWait is ackPublish sent only once wait (other nodes storing the
// message; nil: none) is done.
func (c *conn) ackPublishWait(p *packet.Publish, code packet.ReasonCode, wait func(func(error))) error {
	if c.version != packet.V5 && code.IsError() {
		code = packet.Success
	}
	it := outItem{ackType: packet.TypePuback, pid: p.PacketID, ackCode: code}
	switch p.QoS {
	case 0:
		return nil
	case 2:
		it.ackType = packet.TypePubrec
	}
	switch {
	case c.ackGated(it, wait): // sent once other nodes (and the store) have it (cluster.go)
	case c.ackPublishAfterCommit(it): // sent once what routing stored is committed
	case c.rbuf != nil:
		// More packets are buffered: their acks will join this one in
		// one write of the writer goroutine.
		c.enqueue(it)
	default:
		c.send(it)
	}
	return nil
}

// resolveInboundAlias applies a v5 topic alias: an alias with a topic sets
// it, an alias without one uses it.
func (c *conn) resolveInboundAlias(p *packet.Publish) error {
	alias := p.Properties.TopicAlias
	if alias == 0 {
		if p.Topic == "" {
			return protoErr(packet.ProtocolError, "publish without topic or topic alias")
		}
		return nil
	}
	if int(alias) > c.s.opts.TopicAliasMaximum {
		return protoErr(packet.TopicAliasInvalid, "topic alias %d above maximum %d", alias, c.s.opts.TopicAliasMaximum)
	}
	if p.Topic != "" {
		if c.inAliases == nil {
			c.inAliases = make(map[uint16]string)
		}
		c.inAliases[alias] = strings.Clone(p.Topic)
		return nil
	}
	t, ok := c.inAliases[alias]
	if !ok {
		return protoErr(packet.ProtocolError, "unknown topic alias %d", alias)
	}
	p.Topic = t
	return nil
}

// newMessage builds the hub's message from a decoded PUBLISH; its strings and
// payload alias the packet body, which the message now owns.
func (c *conn) newMessage(p *packet.Publish) *msg.Message {
	now := c.s.clock.Now()
	m := messageFromPublish(p)
	m.ID = c.s.nextMsgID()
	m.ClientID, m.Username, m.PeerHost = c.sess.id, c.userName(), c.remote
	m.ReceivedAt = now
	m.Origin = msg.Origin{Kind: msg.OriginClient}
	if p.Properties.HasMessageExpiry {
		m.ExpiresAt = now.Add(time.Duration(p.Properties.MessageExpiry) * time.Second)
	}
	return m
}

// checkTopicLimits applies the configured topic length and depth limits.
func (s *Server) checkTopicLimits(t string) error {
	if len(t) > s.opts.MaxTopicLength {
		return fmt.Errorf("topic longer than %d bytes", s.opts.MaxTopicLength)
	}
	if strings.Count(t, "/")+1 > s.opts.MaxTopicLevels {
		return fmt.Errorf("topic deeper than %d levels", s.opts.MaxTopicLevels)
	}
	return nil
}

// Publish injects a message from inside the hub (HTTP API, rule, bridge). It
// fills ID and ReceivedAt when zero, validates the topic, stores or clears the
// retained message, routes it and returns the number of sessions it was
// delivered or queued to. With a store, a QoS 1/2 publish returns only after
// the message is stored for every persistent subscriber (and the retained
// record), as a device's PUBACK does. The message must not be modified
// afterwards.
func (s *Server) Publish(ctx context.Context, m *msg.Message) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	if err := topic.ValidateName(m.Topic); err != nil {
		return 0, fmt.Errorf("publish %q: %w", m.Topic, err)
	}
	if err := s.checkTopicLimits(m.Topic); err != nil {
		return 0, fmt.Errorf("publish %q: %w", m.Topic, err)
	}
	if m.QoS > 2 {
		return 0, fmt.Errorf("publish %q: qos %d: must be 0, 1 or 2", m.Topic, m.QoS)
	}
	if m.ID == 0 {
		m.ID = s.nextMsgID()
	}
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = s.clock.Now()
	}
	r := s.publishWait(m, nil)
	n := r.accepted + r.remote
	if r.wait != nil {
		if err := waitCluster(ctx, r.wait); err != nil {
			return n, fmt.Errorf("publish %q: %w", m.Topic, err)
		}
	}
	if m.QoS > 0 {
		// Like a device's PUBACK, the return of an internal QoS 1/2 publish
		// means "stored for every persistent subscriber": a Kafka consumer
		// commits its offset, the API answers, only after it. Without writes
		// pending this costs no fsync.
		if p := s.acks(); p != nil && !isInline(ctx) {
			if err := p.wait(); err != nil {
				return n, fmt.Errorf("publish %q: not stored: %w", m.Topic, err)
			}
		}
	}
	return n, nil
}

// publish stores the retained message, emits the published event, routes,
// and hands a request on a reserved topic to its TopicHandler (which counts
// as one delivery). Requests are not retained.
func (s *Server) publish(m *msg.Message) int {
	return s.publishWait(m, nil).accepted
}

// publishWait is publish with a publisher's back-pressure allowance (nil:
// never wait).
func (s *Server) publishWait(m *msg.Message, w *pubWait) routed {
	var h TopicHandler
	if len(m.Topic) > 0 && m.Topic[0] == '$' {
		h = s.reserved.handler(m.Topic)
	}
	if m.Retain && s.opts.RetainAvailable && h == nil {
		s.storeRetained(m)
		s.retainCluster(m) // cluster.go
	}
	if s.events.wants(msg.EventMessagePublished) {
		s.events.emitUnlocked(msg.Event{
			Kind: msg.EventMessagePublished, Time: m.ReceivedAt, Node: s.opts.NodeName,
			ClientID: m.ClientID, Username: m.Username, PeerHost: m.PeerHost, Message: m, QoS: m.QoS,
		})
	}
	r := s.route(m, w)
	r.accepted += s.replies.deliver(m)
	if h != nil {
		h.HandleMessage(m)
		r.accepted++
	}
	if r.accepted == 0 && s.events.wants(msg.EventMessageDropped) {
		s.events.emitUnlocked(msg.Event{
			Kind: msg.EventMessageDropped, Time: time.Now(), Node: s.opts.NodeName,
			ClientID: m.ClientID, Username: m.Username, PeerHost: m.PeerHost, Message: m, QoS: m.QoS,
			Reason: "no_subscribers",
		})
	}
	s.taps.deliver(m)
	r.remote, r.wait = s.forward(m) // cluster.go
	return r
}

// storeRetained sets or (empty payload) clears the retained message.
func (s *Server) storeRetained(m *msg.Message) {
	if len(m.Payload) == 0 {
		s.retained.Delete(m.Topic)
		s.storeRetainedRecord(m, true)
		return
	}
	if s.opts.MaxRetained > 0 && s.retained.Len() >= s.opts.MaxRetained {
		if _, exists := s.retained.Get(m.Topic); !exists {
			s.log.Warn("retained message limit reached; not stored", "topic", m.Topic, "max_retained", s.opts.MaxRetained)
			return
		}
	}
	s.retained.Set(m.Topic, m)
	s.storeRetainedRecord(m, false)
}

var matchesPool = sync.Pool{New: func() any { return new(topic.Matches[*subscription]) }}

// route delivers m to every matching session once (overlapping subscriptions
// of one session merge: highest QoS, all subscription identifiers) and to one
// member of each matching shared group. It counts what became of the
// deliveries; w is the publisher's back-pressure allowance (nil: none).
func (s *Server) route(m *msg.Message, w *pubWait) routed {
	return s.routeLocal(m, w, s.cluster() == nil, nil)
}

// routeLocal is route; shared says whether shared groups are served here
// (on a cluster they are served through it: DeliverShared).
func (s *Server) routeLocal(m *msg.Message, w *pubWait, shared bool, except []string) routed {
	ms := matchesPool.Get().(*topic.Matches[*subscription])
	defer matchesPool.Put(ms)
	s.subs.Match(m.Topic, ms)
	subs := ms.Subs
	if len(subs) > 1 {
		sortEntries(subs)
	}
	inline := len(subs)+len(ms.Shared) <= maxInlineFanout
	h := s.readHooks() // nil: no authorizer, nothing to check (readacl.go)
	var r routed
	for i := 0; i < len(subs); {
		j := i + 1
		for j < len(subs) && subs[j].Key == subs[i].Key {
			j++
		}
		if slices.Contains(except, subs[i].Key) {
			i = j
			continue
		}
		if d, ok := mergeDelivery(m, subs[i:j], h); ok && d.m != nil {
			r.add(subs[i].Value.sess.deliver(d, inline, w))
		}
		i = j
	}
	for _, g := range ms.Shared {
		if shared {
			r.add(s.deliverShared(m, g, inline, w, h))
		}
	}
	clear(ms.Subs)
	clear(ms.Shared)
	return r
}

func (r *routed) add(st deliverStatus) {
	switch st {
	case accepted:
		r.accepted++
	case full:
		r.full++
	}
}

// sortEntries orders matches by client id (insertion sort: match lists are
// short, and this does not allocate).
func sortEntries(es []topic.Entry[*subscription]) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].Key < es[j-1].Key; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// mergeDelivery combines one session's matching subscriptions into one
// delivery. ok is false when No Local excludes the publisher. With h (an
// authorizer is set), the delivery is checked against the subscriber's
// read access unless one of the subscriptions is wholly readable.
func mergeDelivery(m *msg.Message, subs []topic.Entry[*subscription], h *authHooks) (delivery, bool) {
	d := delivery{m: m}
	matched := false
	check := h != nil
	for k := range subs {
		sub := subs[k].Value
		if sub.opts.NoLocal && m.Origin.Kind == msg.OriginClient && subs[k].Key == m.ClientID {
			continue
		}
		check = check && sub.needsReadCheck(h)
		qos := min(m.QoS, sub.opts.QoS)
		if !matched || qos > d.qos {
			d.qos = qos
		}
		if sub.opts.RetainAsPublished && m.Retain {
			d.retain = true
		}
		if sub.subID != 0 {
			if d.subIDs == nil {
				d.subIDs = sub.ids
			} else {
				d.subIDs = append(append([]uint32(nil), d.subIDs...), sub.subID)
			}
		}
		matched = true
	}
	d.checkRead = check && matched
	return d, matched
}

// deliverShared gives m to one member of a shared group, preferring a
// connected member, chosen by the configured strategy.
func (s *Server) deliverShared(m *msg.Message, g *topic.ShareGroup[*subscription], inline bool, w *pubWait, h *authHooks) deliverStatus {
	members := g.Members()
	if len(members) == 0 {
		return refused
	}
	var first topic.Entry[*subscription]
	for range members {
		var e topic.Entry[*subscription]
		var ok bool
		if s.opts.SharedStrategy == Random {
			e, ok = g.Random()
		} else {
			e, ok = g.Next()
		}
		if !ok {
			return refused
		}
		if first.Value == nil {
			first = e
		}
		if e.Value.sess.isConnected() {
			return e.Value.sess.deliver(sharedDelivery(m, e.Value, h), inline, w)
		}
	}
	return first.Value.sess.deliver(sharedDelivery(m, first.Value, h), inline, w)
}

// sharedDelivery is m's delivery to one member of a shared group; with h,
// checked against the member's read access when its filter needs it.
func sharedDelivery(m *msg.Message, sub *subscription, h *authHooks) delivery {
	return delivery{m: m, qos: min(m.QoS, sub.opts.QoS), retain: sub.opts.RetainAsPublished && m.Retain, subIDs: sub.ids,
		checkRead: h != nil && sub.needsReadCheck(h)}
}

func (ss *Session) isConnected() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.conn != nil
}
