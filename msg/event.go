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
	// EventMessageDropped: a published message reached no subscriber
	// (Message, ClientID = publisher, Reason "no_subscribers").
	EventMessageDropped
	// EventClientConnected: a client's CONNECT was accepted.
	EventClientConnected
	// EventClientDisconnected: a client's connection ended (Reason).
	EventClientDisconnected
	// EventSessionSubscribed: a client subscribed to Filter.
	EventSessionSubscribed
	// EventSessionUnsubscribed: a client unsubscribed from Filter.
	EventSessionUnsubscribed
	// EventDeliveryDropped: a message was not delivered to a subscriber
	// (Message, ClientID = intended receiver, Reason says why).
	EventDeliveryDropped
	// EventClientConnack: the hub answered a CONNECT (Reason is the
	// CONNACK reason code's name, "success" when accepted).
	EventClientConnack
	// EventClientAuthnComplete: authentication of a CONNECT ended (Reason
	// "success" or the refusal's code name; IsSuperuser, IsAnonymous).
	EventClientAuthnComplete
	// EventClientAuthzComplete: a publish or subscribe was checked against
	// the ACL (Filter = topic, Action, Result, AuthzSource, IsCache).
	EventClientAuthzComplete
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
	EventDeliveryDropped:     "delivery_dropped",
	EventClientConnack:       "client_connack",
	EventClientAuthnComplete: "client_check_authn_complete",
	EventClientAuthzComplete: "client_check_authz_complete",
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
	// (e.g. "normal", "keepalive_timeout", "queue_full", "expired"), or
	// the reason code's name of a CONNACK or an authentication
	// ("success", "not_authorized").
	Reason string

	// SockName is the hub's end of the client's connection (host:port).
	SockName string
	// ConnectedAt is when the client's connection was accepted
	// (connected, disconnected).
	ConnectedAt time.Time
	// ExpiryInterval is the session expiry interval in seconds
	// (connected, connack).
	ExpiryInterval uint32
	// Props are the MQTT 5 properties of the packet behind the event,
	// under the specification's names ("User-Property" is an object):
	// CONNECT (connected, connack), DISCONNECT (disconnected), SUBSCRIBE
	// (subscribed), PUBACK or PUBCOMP (acked). Nil when there are none.
	Props map[string]any

	// Action ("publish" or "subscribe"), Result ("allow" or "deny"),
	// AuthzSource (who answered: "cache", "acl" or "default" when no
	// authorizer is configured) and IsCache describe an authorization
	// check.
	Action, Result, AuthzSource string
	IsCache                     bool
	// IsSuperuser and IsAnonymous describe an authenticated client.
	IsSuperuser, IsAnonymous bool
}
