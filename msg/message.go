package msg

import "time"

// UserProperty is one MQTT 5 user property; order and duplicates are kept.
type UserProperty struct {
	Key   string
	Value string
}

// Message is one application message: what a PUBLISH carried, plus who sent
// it and when it arrived. It is immutable once published.
type Message struct {
	// ID is unique within one hub process (a counter), for tracing.
	ID uint64
	// Topic is the topic name the message was published to.
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool

	// Publisher identity; empty for messages injected by the hub itself.
	ClientID string
	Username string
	// PeerHost is the publisher's address (host:port) when it came from a
	// network client.
	PeerHost string
	// ReceivedAt is when the hub accepted the message.
	ReceivedAt time.Time

	// MQTT 5 properties carried through to subscribers.
	PayloadFormat   byte
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	UserProperties  []UserProperty
	// ExpiresAt is zero when the message does not expire; otherwise the
	// message is not delivered after it (v5 Message Expiry Interval).
	ExpiresAt time.Time

	// Origin tells where the message came from, for loop prevention and
	// rules.
	Origin Origin
}

// Expired reports whether the message has an expiry and it is past now.
func (m *Message) Expired(now time.Time) bool {
	return !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt)
}

// RemainingExpiry returns the v5 Message Expiry Interval to send to a
// subscriber at now (seconds left, at least 1), and false when the message
// does not expire.
func (m *Message) RemainingExpiry(now time.Time) (uint32, bool) {
	if m.ExpiresAt.IsZero() {
		return 0, false
	}
	left := m.ExpiresAt.Sub(now)
	secs := uint32((left + time.Second - 1) / time.Second)
	if left <= 0 || secs == 0 {
		secs = 1
	}
	return secs, true
}
