package rule

import (
	"encoding/json"
	"net"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/iothub-dev/iothub/msg"
)

// kindMask is a set of event kinds.
type kindMask uint16

func maskOf(kinds ...msg.EventKind) kindMask {
	var m kindMask
	for _, k := range kinds {
		m |= 1 << k
	}
	return m
}

func (m kindMask) has(k msg.EventKind) bool { return m&(1<<k) != 0 }

var (
	publishKinds  = maskOf(msg.EventMessagePublished)
	deliveryKinds = maskOf(msg.EventMessageDelivered, msg.EventMessageAcked, msg.EventDeliveryDropped)
	messageKinds  = publishKinds | deliveryKinds | maskOf(msg.EventMessageDropped)
	connKinds     = maskOf(msg.EventClientConnected, msg.EventClientDisconnected)
	connackKinds  = maskOf(msg.EventClientConnack)
	authnKinds    = maskOf(msg.EventClientAuthnComplete)
	authzKinds    = maskOf(msg.EventClientAuthzComplete)
	subKinds      = maskOf(msg.EventSessionSubscribed, msg.EventSessionUnsubscribed)
	// clientKinds are the events about a client's connection.
	clientKinds = connKinds | connackKinds | authnKinds
	allKinds    = messageKinds | clientKinds | authzKinds | subKinds
)

// event is one broker event as rules see it: the event and its payload,
// decoded as JSON on first use and then shared by every rule and output.
type event struct {
	e *msg.Event

	once    sync.Once
	payload Value // decoded JSON
	isJSON  bool  // the payload is JSON
}

// payloadString returns the message payload as a string without copying it:
// a published message is immutable (msg.Message), so the bytes never change.
func (ev *event) payloadString() string {
	m := ev.e.Message
	if m == nil || len(m.Payload) == 0 {
		return ""
	}
	return unsafe.String(&m.Payload[0], len(m.Payload)) //nolint:gosec // zero-copy view; a message's payload is never written after it is built
}

// json returns the payload decoded as JSON, decoding it at most once, and
// whether it is JSON.
func (ev *event) json() (Value, bool) {
	ev.once.Do(func() {
		if m := ev.e.Message; m != nil && len(m.Payload) > 0 {
			var x any
			if json.Unmarshal(m.Payload, &x) == nil {
				ev.payload, ev.isJSON = FromAny(x), true
			}
		}
	})
	return ev.payload, ev.isJSON
}

// fieldDef is one event field: the kinds that have it and its getter.
type fieldDef struct {
	kinds kindMask
	get   func(ev *event) Value
}

// fieldOrder is the order of the fields in SELECT * output.
var fieldOrder = []string{"event", "id", "clientid", "username", "from_clientid", "from_username",
	"topic", "payload", "qos", "retain", "flags", "pub_props", "user_properties", "puback_props",
	"sub_props", "unsub_props", "reason", "reason_code", "action", "result", "authz_source", "is_cache",
	"is_superuser", "is_anonymous", "peerhost", "peername", "sockname", "proto_ver", "proto_name",
	"keepalive", "clean_start", "expiry_interval", "is_bridge", "conn_props", "disconn_props",
	"client_attrs", "listener", "publish_received_at", "connected_at", "disconnected_at", "timestamp", "node"}

func ms(t time.Time) Value {
	if t.IsZero() {
		return Null
	}
	return Int(t.UnixMilli())
}

func str(s string) Value { return String(s) }

// fields maps each field name to its definition. The receiver of a
// delivered, acked or dropped message is clientid/username; its publisher
// is from_clientid/from_username.
var fields = map[string]fieldDef{
	"event":    {allKinds, func(ev *event) Value { return str(eventName(ev.e.Kind)) }},
	"clientid": {allKinds, func(ev *event) Value { return str(ev.e.ClientID) }},
	"username": {allKinds, func(ev *event) Value { return str(ev.e.Username) }},
	"node":     {allKinds, func(ev *event) Value { return str(ev.e.Node) }},
	"timestamp": {allKinds, func(ev *event) Value {
		return ms(ev.e.Time)
	}},
	"peerhost": {allKinds, func(ev *event) Value {
		h := ev.e.PeerHost
		if h == "" && ev.e.Message != nil {
			h = ev.e.Message.PeerHost
		}
		return str(hostOnly(h))
	}},
	"id":        {messageKinds, msgField(func(m *msg.Message) Value { return Int(int64(m.ID)) })},
	"payload":   {messageKinds, func(ev *event) Value { return str(ev.payloadString()) }},
	"retain":    {messageKinds, msgField(func(m *msg.Message) Value { return Bool(m.Retain) })},
	"flags":     {messageKinds, msgField(flagsOf)},
	"pub_props": {messageKinds, msgField(pubProps)},
	"user_properties": {messageKinds, msgField(func(m *msg.Message) Value {
		return Object(userProps(m))
	})},
	"publish_received_at": {messageKinds, msgField(func(m *msg.Message) Value { return ms(m.ReceivedAt) })},
	"from_clientid":       {deliveryKinds, msgField(func(m *msg.Message) Value { return str(m.ClientID) })},
	"from_username":       {deliveryKinds, msgField(func(m *msg.Message) Value { return str(m.Username) })},
	"topic": {messageKinds | subKinds | authzKinds, func(ev *event) Value {
		if ev.e.Message != nil {
			return str(ev.e.Message.Topic)
		}
		return str(ev.e.Filter)
	}},
	"qos": {messageKinds | subKinds, func(ev *event) Value { return Int(int64(ev.e.QoS)) }},
	"reason": {maskOf(msg.EventMessageDropped, msg.EventDeliveryDropped, msg.EventClientDisconnected) | connackKinds | authnKinds,
		func(ev *event) Value { return str(ev.e.Reason) }},
	"reason_code": {connackKinds | authnKinds, func(ev *event) Value { return str(ev.e.Reason) }},
	"proto_ver":   {connKinds | connackKinds, func(ev *event) Value { return Int(int64(ev.e.ProtoVer)) }},
	"proto_name":  {connKinds | connackKinds, func(ev *event) Value { return str(protoName(ev.e.ProtoVer)) }},
	"keepalive":   {maskOf(msg.EventClientConnected) | connackKinds, func(ev *event) Value { return Int(int64(ev.e.KeepAlive)) }},
	"clean_start": {maskOf(msg.EventClientConnected) | connackKinds, func(ev *event) Value {
		return Bool(ev.e.CleanStart)
	}},
	"expiry_interval": {maskOf(msg.EventClientConnected) | connackKinds, func(ev *event) Value {
		return Int(int64(ev.e.ExpiryInterval))
	}},
	"is_bridge":       {maskOf(msg.EventClientConnected), func(*event) Value { return Bool(false) }},
	"client_attrs":    {clientKinds, func(*event) Value { return Object(map[string]any{}) }},
	"peername":        {clientKinds, func(ev *event) Value { return str(ev.e.PeerHost) }},
	"sockname":        {connKinds | connackKinds, func(ev *event) Value { return str(ev.e.SockName) }},
	"conn_props":      {maskOf(msg.EventClientConnected) | connackKinds, propsField},
	"disconn_props":   {maskOf(msg.EventClientDisconnected), propsField},
	"sub_props":       {maskOf(msg.EventSessionSubscribed), propsField},
	"unsub_props":     {maskOf(msg.EventSessionUnsubscribed), propsField},
	"puback_props":    {maskOf(msg.EventMessageAcked), propsField},
	"listener":        {clientKinds, func(ev *event) Value { return str(ev.e.Listener) }},
	"connected_at":    {connKinds, func(ev *event) Value { return ms(connectedAt(ev.e)) }},
	"disconnected_at": {maskOf(msg.EventClientDisconnected), func(ev *event) Value { return ms(ev.e.Time) }},
	"action":          {authzKinds, func(ev *event) Value { return str(ev.e.Action) }},
	"result":          {authzKinds, func(ev *event) Value { return str(ev.e.Result) }},
	"authz_source":    {authzKinds, func(ev *event) Value { return str(ev.e.AuthzSource) }},
	"is_cache":        {authzKinds, func(ev *event) Value { return Bool(ev.e.IsCache) }},
	"is_superuser":    {authnKinds, func(ev *event) Value { return Bool(ev.e.IsSuperuser) }},
	"is_anonymous":    {authnKinds, func(ev *event) Value { return Bool(ev.e.IsAnonymous) }},
}

// propsField is the MQTT 5 properties of the event's packet (conn_props,
// disconn_props, sub_props, unsub_props, puback_props): {} when none.
func propsField(ev *event) Value {
	if ev.e.Props == nil {
		return Object(map[string]any{})
	}
	return Object(ev.e.Props)
}

// connectedAt is when the client connected: the event's ConnectedAt, or
// its time for a connected event that does not say.
func connectedAt(e *msg.Event) time.Time {
	if !e.ConnectedAt.IsZero() || e.Kind != msg.EventClientConnected {
		return e.ConnectedAt
	}
	return e.Time
}

// eventName is EMQX's name of the event kind: message.publish,
// client.connected, … (the $events/ source names use underscores).
func eventName(k msg.EventKind) string {
	return strings.Replace(k.String(), "_", ".", 1)
}

// msgField adapts a getter of the message to an event getter (null when the
// event carries no message).
func msgField(f func(*msg.Message) Value) func(*event) Value {
	return func(ev *event) Value {
		if ev.e.Message == nil {
			return Null
		}
		return f(ev.e.Message)
	}
}

// field returns the named field of ev, or null when ev's kind lacks it.
func (ev *event) field(name string) Value {
	d, ok := fields[name]
	if !ok || !d.kinds.has(ev.e.Kind) {
		return Null
	}
	return d.get(ev)
}

// hostOnly strips the port from host:port.
func hostOnly(hostport string) string {
	if hostport == "" {
		return ""
	}
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func protoName(v byte) string {
	if v == 3 {
		return "MQIsdp"
	}
	return "MQTT"
}

func flagsOf(m *msg.Message) Value {
	return Object(map[string]any{"retain": m.Retain, "dup": false})
}

func userProps(m *msg.Message) map[string]any {
	out := make(map[string]any, len(m.UserProperties))
	for _, p := range m.UserProperties {
		out[p.Key] = p.Value
	}
	return out
}

// pubProps returns the MQTT 5 properties of m under their specification
// names, as EMQX shows them.
func pubProps(m *msg.Message) Value {
	p := map[string]any{}
	if len(m.UserProperties) > 0 {
		p["User-Property"] = userProps(m)
	}
	if m.ContentType != "" {
		p["Content-Type"] = m.ContentType
	}
	if m.ResponseTopic != "" {
		p["Response-Topic"] = m.ResponseTopic
	}
	if len(m.CorrelationData) > 0 {
		p["Correlation-Data"] = string(m.CorrelationData)
	}
	if m.PayloadFormat != 0 {
		p["Payload-Format-Indicator"] = int64(m.PayloadFormat)
	}
	if secs, ok := m.RemainingExpiry(m.ReceivedAt); ok {
		p["Message-Expiry-Interval"] = int64(secs)
	}
	return Object(p)
}
