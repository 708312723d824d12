package msg

import "time"

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of events the broker emits.
const (
	// EventMessagePublished: a PUBLISH entered the hub (Message set).
	EventMessagePublished EventKind = iota + 1
	// EventMessageDelivered: a message was written to a subscriber
	// (Message, ClientID = receiver).
	EventMessageDelivered
	// EventMessageAcked: the receiver acknowledged a QoS 1/2 message
	// (PUBACK or PUBCOMP; Message, ClientID = receiver).
	EventMessageAcked
	// EventMessageDropped: a message was not delivered to a subscriber
	// (Message, ClientID = intended receiver, Reason says why).
	EventMessageDropped
	// EventClientConnected: a client's CONNECT was accepted.
	EventClientConnected
	// EventClientDisconnected: a client's connection ended (Reason).
	EventClientDisconnected
	// EventSessionSubscribed: a client subscribed to Filter.
	EventSessionSubscribed
	// EventSessionUnsubscribed: a client unsubscribed from Filter.
	EventSessionUnsubscribed
)

var kindNames = [...]string{
	EventMessagePublished:    "message_publish",
	EventMessageDelivered:    "message_delivered",
	EventMessageAcked:        "message_acked",
	EventMessageDropped:      "message_dropped",
	EventClientConnected:     "client_connected",
	EventClientDisconnected:  "client_disconnected",
	EventSessionSubscribed:   "session_subscribed",
	EventSessionUnsubscribed: "session_unsubscribed",
}

// String returns the event name as rules know it, e.g. "message_acked".
func (k EventKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// Event is one thing that happened in the broker. Fields not relevant to the
// kind are zero. Events are values; Message is shared and immutable.
type Event struct {
	Kind EventKind
	Time time.Time
	// Node is the name of the hub node that emitted the event.
	Node string

	// The client the event is about: the publisher for
	// EventMessagePublished, the receiver for delivered/acked/dropped.
	ClientID string
	Username string
	PeerHost string

	// Message is set for message events.
	Message *Message
	// QoS is the QoS the message was delivered with (delivered/acked), or
	// the granted QoS (subscribed).
	QoS byte

	// Filter is the topic filter for subscribe/unsubscribe events.
	Filter string

	// Connection details for client events.
	ProtoVer   byte   // 3, 4 or 5
	KeepAlive  uint16 // seconds
	CleanStart bool
	Listener   string
	// Reason is a short snake_case reason for disconnects and drops
	// (e.g. "normal", "keepalive_timeout", "queue_full", "expired").
	Reason string
}
