package rule

import (
	"fmt"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

// Sample is a hand-written event for Test (the body of POST
// /api/v1/rules/test): the fields a rule can read, all optional.
type Sample struct {
	// Event is message_publish, or one of the $events names with or
	// without the "$events/" prefix; empty: the statement's first source.
	Event string `json:"event,omitempty"`
	// ClientID and Username: the publisher for message_publish, the
	// receiver for delivered/acked/dropped, the client for client events.
	ClientID string `json:"clientid,omitempty"`
	Username string `json:"username,omitempty"`
	// FromClientID and FromUsername are the publisher of a delivered,
	// acked or dropped message.
	FromClientID   string            `json:"from_clientid,omitempty"`
	FromUsername   string            `json:"from_username,omitempty"`
	Topic          string            `json:"topic,omitempty"`
	Payload        string            `json:"payload,omitempty"`
	QoS            byte              `json:"qos,omitempty"`
	Retain         bool              `json:"retain,omitempty"`
	PeerHost       string            `json:"peerhost,omitempty"`
	UserProperties map[string]string `json:"user_properties,omitempty"`
	ProtoVer       byte              `json:"proto_ver,omitempty"`
	KeepAlive      uint16            `json:"keepalive,omitempty"`
	CleanStart     bool              `json:"clean_start,omitempty"`
	Listener       string            `json:"listener,omitempty"`
	Reason         string            `json:"reason,omitempty"`
	Node           string            `json:"node,omitempty"`
	// Timestamp is the event time in Unix milliseconds (default: now).
	Timestamp int64 `json:"timestamp,omitempty"`
}

// kindOf returns the event kind a sample names.
func kindOf(name string) (msg.EventKind, error) {
	name = strings.TrimPrefix(name, "$events/")
	if name == "message_publish" || name == "message_published" {
		return msg.EventMessagePublished, nil
	}
	if k, ok := eventSources[name]; ok {
		return k, nil
	}
	return 0, fmt.Errorf("%w: unknown event %q", ErrBadRule, name)
}

// event builds the broker event the sample describes.
func (s Sample) event(kind msg.EventKind, now time.Time) *msg.Event {
	at := now
	if s.Timestamp != 0 {
		at = time.UnixMilli(s.Timestamp)
	}
	ev := &msg.Event{Kind: kind, Time: at, Node: s.Node, ClientID: s.ClientID, Username: s.Username,
		PeerHost: s.PeerHost, QoS: s.QoS, ProtoVer: s.ProtoVer, KeepAlive: s.KeepAlive,
		CleanStart: s.CleanStart, Listener: s.Listener, Reason: s.Reason, Filter: s.Topic}
	if messageKinds.has(kind) {
		m := &msg.Message{ID: 1, Topic: s.Topic, Payload: []byte(s.Payload), QoS: s.QoS, Retain: s.Retain,
			ClientID: s.ClientID, Username: s.Username, PeerHost: s.PeerHost, ReceivedAt: at, Origin: msg.Origin{Kind: msg.OriginClient}}
		if kind != msg.EventMessagePublished {
			m.ClientID, m.Username = s.FromClientID, s.FromUsername
		}
		for k, v := range s.UserProperties {
			m.UserProperties = append(m.UserProperties, msg.UserProperty{Key: k, Value: v})
		}
		ev.Message, ev.Filter = m, ""
	}
	return ev
}

// TestSample compiles sql and evaluates it against the sample, without
// creating a rule. Errors are as for Test.
func (e *Engine) TestSample(sql string, s Sample) ([]Output, error) {
	p, err := compileSQL(sql)
	if err != nil {
		return nil, err
	}
	var kind msg.EventKind
	switch {
	case s.Event != "":
		if kind, err = kindOf(s.Event); err != nil {
			return nil, err
		}
	case len(p.filters) > 0:
		kind = msg.EventMessagePublished
	default:
		for k := msg.EventMessagePublished; k <= msg.EventSessionUnsubscribed; k++ {
			if p.kinds.has(k) {
				kind = k
				break
			}
		}
	}
	now := e.opts.Now()
	return evalProgram(&e.opts, p, s.event(kind, now), now)
}
