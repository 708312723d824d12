package upstream

import (
	"context"
	"strings"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// forwarder hands the messages that match a forward filter to their
// stream as they are published: a broker.InlineEventHandler, so that a
// QoS 1/2 message is queued on its publisher's goroutine before the
// PUBACK (which then waits for the queue's commit, see broker.Syncer).
type forwarder struct{ e *Edge }

// Forwarder returns the edge's event handler for the broker
// (AddEventHandler); it wants published events only when there are
// forward filters.
func (e *Edge) Forwarder() broker.InlineEventHandler { return forwarder{e} }

// WantsEvent implements broker.EventFilter.
func (f forwarder) WantsEvent(kind msg.EventKind) bool {
	return kind == msg.EventMessagePublished && len(f.e.fwd) > 0
}

// HandleEvent receives the kinds the broker does not hand inline: none
// is wanted.
func (f forwarder) HandleEvent(msg.Event) {}

// HandleEventInline queues a published message that matches a forward
// filter (the first that matches decides the stream).
func (f forwarder) HandleEventInline(_ context.Context, ev *msg.Event) {
	m := ev.Message
	if ev.Kind != msg.EventMessagePublished || m == nil || cameFromUpstream(m) {
		return
	}
	for _, ff := range f.e.fwd {
		if !topic.Match(ff.filter, m.Topic) {
			continue
		}
		if err := ff.st.enqueue(messageRecord(m)); err != nil {
			f.e.log.Warn("upstream: message not queued", "topic", m.Topic, "error", err)
		}
		return
	}
}

// cameFromUpstream reports whether m came down from the centre: it is
// never sent back up.
func cameFromUpstream(m *msg.Message) bool {
	return m.Origin.Kind == msg.OriginUpstream
}

// messageRecord is the queue record of a message as published: its
// topic, payload, retain flag and user properties, without identity
// properties a device may have set (the stream adds the edge's own).
func messageRecord(m *msg.Message) bridge.Record {
	r := bridge.Record{Topic: m.Topic, Value: m.Payload, Time: m.ReceivedAt}
	for _, u := range m.UserProperties {
		if isIdentityProp(u.Key) {
			continue
		}
		r.Headers = append(r.Headers, bridge.Header{Key: u.Key, Value: []byte(u.Value)})
	}
	if m.Retain {
		r.Headers = append(r.Headers, bridge.Header{Key: hdrRetain, Value: []byte{1}})
	}
	return r
}

func isIdentityProp(k string) bool {
	return k == PropOrigin || k == PropSeq || strings.HasPrefix(k, "\x00")
}

var _ broker.InlineEventHandler = forwarder{}
