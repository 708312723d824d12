package broker

import (
	"strings"
	"time"

	"github.com/iothub-dev/iothub/auth"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// handleSubscribe adds the subscriptions, answers SUBACK, then sends the
// matching retained messages (after SUBACK, as the spec requires).
func (c *conn) handleSubscribe(fh packet.FixedHeader, body []byte) error {
	var p packet.Subscribe
	if err := p.Decode(fh, body, c.version); err != nil {
		return err
	}
	var subID uint32
	if len(p.Properties.SubscriptionIDs) > 0 {
		subID = p.Properties.SubscriptionIDs[0]
	}
	codes := make([]packet.ReasonCode, len(p.Subscriptions))
	type retainedReq struct {
		filter string
		sub    *subscription
	}
	var wantRetained []retainedReq
	for i, req := range p.Subscriptions {
		access := c.maySubscribe(req.Filter) // auth.go
		if access == auth.ReadNone {
			codes[i] = c.subackCode(packet.NotAuthorized)
			continue
		}
		sub, isNew, code := c.s.subscribe(c.sess, req, subID, &p.Properties)
		codes[i] = c.subackCode(code)
		if code.IsError() {
			continue
		}
		sub.setAccess(c.auth.gen, access) // readacl.go
		if strings.HasPrefix(req.Filter, topic.SharePrefix) {
			continue
		}
		if req.RetainHandling == 0 || (req.RetainHandling == 1 && isNew) {
			wantRetained = append(wantRetained, retainedReq{req.Filter, sub})
		}
	}
	c.s.waitStored(c.sess) // the subscriptions are durable before SUBACK
	c.enqueue(outItem{pkt: &packet.Suback{PacketID: p.PacketID, ReasonCodes: codes}})
	for _, r := range wantRetained {
		c.s.sendRetained(c.sess, r.filter, r.sub)
	}
	return nil
}

// subackCode maps a v5 failure code to 0x80 for 3.1.1.
func (c *conn) subackCode(code packet.ReasonCode) packet.ReasonCode {
	if c.version != packet.V5 && code.IsError() {
		return packet.V311SubackFailure
	}
	return code
}

// subscribe adds one subscription to ss and the trie. It returns the granted
// QoS as a reason code, or a failure code. props are the SUBSCRIBE's
// properties, for the subscribed event (nil: none).
func (s *Server) subscribe(ss *Session, req packet.Subscription, subID uint32, props *packet.Properties) (*subscription, bool, packet.ReasonCode) {
	if err := s.checkTopicLimits(req.Filter); err != nil {
		return nil, false, packet.TopicFilterInvalid
	}
	sub := &subscription{sess: ss, filter: req.Filter, opts: req, subID: subID}
	if subID != 0 {
		sub.ids = []uint32{subID}
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.removed {
		return nil, false, packet.UnspecifiedError
	}
	_, exists := ss.subs[req.Filter]
	if !exists && s.opts.MaxSubscriptionsPerClient > 0 && len(ss.subs) >= s.opts.MaxSubscriptionsPerClient {
		return nil, false, packet.QuotaExceeded
	}
	isNew, err := s.trieSubscribe(req.Filter, ss.id, sub)
	if err != nil {
		return nil, false, packet.TopicFilterInvalid
	}
	if ss.subs == nil {
		ss.subs = make(map[string]*subscription)
	}
	ss.subs[req.Filter] = sub
	ss.saveLocked()
	ss.saveClusterLocked() // cluster_session.go
	s.emitSubEvent(msg.EventSessionSubscribed, ss, req.Filter, req.QoS, props)
	return sub, isNew, packet.ReasonCode(req.QoS)
}

// sendRetained delivers the retained messages matching filter to ss, with
// the retain flag set.
func (s *Server) sendRetained(ss *Session, filter string, sub *subscription) {
	now := s.clock.Now()
	h := s.readHooks()
	check := h != nil && sub.needsReadCheck(h) // readacl.go
	s.retained.Match(filter, func(_ string, m *msg.Message) bool {
		if m.Expired(now) {
			return true
		}
		// Not inline: a burst of retained messages is written in batches.
		ss.deliver(delivery{m: m, qos: min(m.QoS, sub.opts.QoS), retain: true, subIDs: sub.ids, checkRead: check}, false, nil)
		return true
	})
}

// handleUnsubscribe removes subscriptions and answers UNSUBACK.
func (c *conn) handleUnsubscribe(fh packet.FixedHeader, body []byte) error {
	var p packet.Unsubscribe
	if err := p.Decode(fh, body, c.version); err != nil {
		return err
	}
	ack := &packet.Unsuback{PacketID: p.PacketID}
	if c.version == packet.V5 {
		ack.ReasonCodes = make([]packet.ReasonCode, len(p.Filters))
	}
	for i, f := range p.Filters {
		found := c.s.unsubscribe(c.sess, f)
		if ack.ReasonCodes != nil && !found {
			ack.ReasonCodes[i] = packet.NoSubscriptionExisted
		}
	}
	c.enqueue(outItem{pkt: ack})
	return nil
}

// unsubscribe removes one subscription of ss; false when it had none.
func (s *Server) unsubscribe(ss *Session, filter string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, ok := ss.subs[filter]; !ok {
		return false
	}
	delete(ss.subs, filter)
	ss.saveLocked()
	ss.saveClusterLocked()
	s.trieUnsubscribe(filter, ss.id)
	s.emitSubEvent(msg.EventSessionUnsubscribed, ss, filter, 0, nil)
	return true
}

// emitSubEvent emits a subscribed or unsubscribed event; props are the
// packet's properties (sub_props; nil: none).
func (s *Server) emitSubEvent(kind msg.EventKind, ss *Session, filter string, qos byte, props *packet.Properties) {
	if !s.events.wants(kind) {
		return
	}
	ev := msg.Event{
		Kind: kind, Time: time.Now(), Node: s.opts.NodeName,
		ClientID: ss.id, Username: ss.usernameUnlocked(), Filter: filter, QoS: qos,
	}
	if props != nil {
		ev.Props = propsMap(props) // events_client.go
	}
	s.events.emit(ev)
}
