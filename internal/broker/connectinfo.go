package broker

import (
	"strings"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// This file keeps what a client asked for in CONNECT beyond what routing
// needs — its will and its MQTT 5 properties — so that the HTTP API can
// show it. It is built once, when the CONNECT is accepted, before the
// connection is attached to its session, and never changed: other
// goroutines read it through the session's lock without further
// locking. A client with neither a will nor properties (most 3.1.1
// devices) has none: its connection holds one nil pointer.

// connectInfo is a connection's will and CONNECT properties.
type connectInfo struct {
	// will is the will message (nil: none); willDelay its v5 Will Delay
	// Interval; willExpiry its Message Expiry Interval when
	// willHasExpiry (the expiry counts from when the will is published).
	will          *msg.Message
	willDelay     uint32
	willExpiry    uint32
	willHasExpiry bool
	// props are the v5 CONNECT properties (nil: none sent).
	props *ConnectProperties
}

// ConnectProperties are the MQTT 5 properties of a client's CONNECT, as
// the client sent them (zero: absent); the hub may have granted less
// (mqtt.max_session_expiry, say).
type ConnectProperties struct {
	// SessionExpiry is the Session Expiry Interval in seconds, when
	// HasSessionExpiry (absent means 0).
	SessionExpiry    uint32
	HasSessionExpiry bool
	// ReceiveMaximum is how many QoS 1/2 messages the client takes in
	// flight (0: absent, which means 65,535).
	ReceiveMaximum uint16
	// MaximumPacketSize is the largest packet the client accepts (0:
	// absent, no limit).
	MaximumPacketSize uint32
	// TopicAliasMaximum is how many topic aliases the client accepts.
	TopicAliasMaximum uint16
	// RequestResponseInfo is the Request Response Information flag.
	RequestResponseInfo bool
	// RequestProblemInfo is the Request Problem Information flag, when
	// HasRequestProblemInfo (absent means true).
	RequestProblemInfo    bool
	HasRequestProblemInfo bool
	// UserProperties are the CONNECT's user properties, in order.
	UserProperties []msg.UserProperty
}

// WillInfo describes a client's will as the API shows it (the payload's
// size, not the payload).
type WillInfo struct {
	Topic  string
	QoS    byte
	Retain bool
	// DelaySeconds is the v5 Will Delay Interval.
	DelaySeconds uint32
	PayloadSize  int
	// MessageExpiry is the will's Message Expiry Interval in seconds,
	// when HasMessageExpiry.
	MessageExpiry    uint32
	HasMessageExpiry bool
	ContentType      string
	ResponseTopic    string
	// PayloadFormat is 1 for UTF-8 text.
	PayloadFormat  byte
	UserProperties []msg.UserProperty
}

// newConnectInfo returns what c keeps of p, or nil when p has neither a
// will (will nil) nor v5 properties worth keeping. The will's strings
// alias p's body, which the will message owns; the properties' strings
// are copied, so that a client without a will does not pin its CONNECT's
// body (and password) for the life of the connection.
func newConnectInfo(p *packet.Connect, will *msg.Message, v5 bool) *connectInfo {
	var props *ConnectProperties
	if v5 {
		props = connectProps(&p.Properties)
	}
	if will == nil && props == nil {
		return nil
	}
	ci := &connectInfo{will: will, props: props}
	if will != nil {
		ci.willDelay = p.WillProperties.WillDelay
		ci.willExpiry, ci.willHasExpiry = p.WillProperties.MessageExpiry, p.WillProperties.HasMessageExpiry
	}
	return ci
}

// connectProps copies the CONNECT properties the API shows; nil when none
// is present.
func connectProps(p *packet.Properties) *ConnectProperties {
	if !p.HasSessionExpiry && p.ReceiveMaximum == 0 && p.MaximumPacketSize == 0 && p.TopicAliasMaximum == 0 &&
		p.RequestResponseInfo == 0 && !p.HasRequestProblemInfo && len(p.User) == 0 {
		return nil
	}
	cp := &ConnectProperties{
		SessionExpiry: p.SessionExpiry, HasSessionExpiry: p.HasSessionExpiry,
		ReceiveMaximum: p.ReceiveMaximum, MaximumPacketSize: p.MaximumPacketSize, TopicAliasMaximum: p.TopicAliasMaximum,
		RequestResponseInfo: p.RequestResponseInfo != 0,
		RequestProblemInfo:  p.RequestProblemInfo != 0, HasRequestProblemInfo: p.HasRequestProblemInfo,
	}
	if len(p.User) > 0 {
		cp.UserProperties = make([]msg.UserProperty, len(p.User))
		for i, u := range p.User {
			cp.UserProperties[i] = msg.UserProperty{Key: strings.Clone(u.Key), Value: strings.Clone(u.Value)}
		}
	}
	return cp
}

// will returns the connection's will (nil: none).
func (c *conn) will() *msg.Message {
	if c.connect == nil {
		return nil
	}
	return c.connect.will
}

// connInfo returns c's connectInfo; c may be nil (nil: none).
func connInfo(c *conn) *connectInfo {
	if c == nil {
		return nil
	}
	return c.connect
}

// willInfo describes ci's will for the API (nil: none).
func (ci *connectInfo) willInfo() *WillInfo {
	if ci == nil || ci.will == nil {
		return nil
	}
	m := ci.will
	return &WillInfo{Topic: m.Topic, QoS: m.QoS, Retain: m.Retain, DelaySeconds: ci.willDelay, PayloadSize: len(m.Payload),
		MessageExpiry: ci.willExpiry, HasMessageExpiry: ci.willHasExpiry, ContentType: m.ContentType,
		ResponseTopic: m.ResponseTopic, PayloadFormat: m.PayloadFormat, UserProperties: m.UserProperties}
}

// properties returns ci's CONNECT properties (nil: none).
func (ci *connectInfo) properties() *ConnectProperties {
	if ci == nil {
		return nil
	}
	return ci.props
}
