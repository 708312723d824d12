package rule

import (
	"encoding/json"
	"errors"
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
	// SockName is the hub's end of the connection (client events).
	SockName string `json:"sockname,omitempty"`
	// ExpiryInterval is the session expiry in seconds (connected, connack).
	ExpiryInterval uint32 `json:"expiry_interval,omitempty"`
	// Props are the MQTT 5 properties of the event's packet (conn_props,
	// disconn_props, sub_props, unsub_props, puback_props).
	Props map[string]any `json:"props,omitempty"`
	// Action, Result, AuthzSource and IsCache describe an authorization
	// check (client_check_authz_complete; topic is the topic).
	Action      string `json:"action,omitempty"`
	Result      string `json:"result,omitempty"`
	AuthzSource string `json:"authz_source,omitempty"`
	IsCache     bool   `json:"is_cache,omitempty"`
	// IsSuperuser and IsAnonymous describe an authentication
	// (client_check_authn_complete).
	IsSuperuser bool `json:"is_superuser,omitempty"`
	IsAnonymous bool `json:"is_anonymous,omitempty"`
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
		CleanStart: s.CleanStart, Listener: s.Listener, Reason: s.Reason, Filter: s.Topic,
		SockName: s.SockName, ExpiryInterval: s.ExpiryInterval, Props: s.Props, Action: s.Action,
		Result: s.Result, AuthzSource: s.AuthzSource, IsCache: s.IsCache, IsSuperuser: s.IsSuperuser,
		IsAnonymous: s.IsAnonymous}
	if connKinds.has(kind) {
		ev.ConnectedAt = at
	}
	if messageKinds.has(kind) {
		m := &msg.Message{ID: 1, Topic: s.Topic, Payload: []byte(s.Payload), QoS: s.QoS, Retain: s.Retain,
			ClientID: s.ClientID, Username: s.Username, PeerHost: s.PeerHost, ReceivedAt: at, Origin: msg.Origin{Kind: msg.OriginClient}}
		if deliveryKinds.has(kind) {
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
		for k := msg.EventMessagePublished; k <= lastKind; k++ {
			if p.kinds.has(k) {
				kind = k
				break
			}
		}
	}
	now := e.opts.Now()
	return evalProgram(&e.opts, p, s.event(kind, now), now)
}

// lastKind is the highest msg.EventKind.
const lastKind = msg.EventClientAuthzComplete

// SampleFromContext reads EMQX's rule-test context (the "context" of
// POST /api/v5/rule_test): the event's columns by their names, with
// "event_type" naming the event (message_publish, client_connected, …).
// Columns iothub does not model are ignored; a known column of the wrong
// type is an error naming it.
func SampleFromContext(ctx map[string]any) (Sample, error) {
	var s Sample
	for k, v := range ctx {
		if err := s.setColumn(k, v); err != nil {
			return Sample{}, fmt.Errorf("%w: context.%s: %w", ErrBadRule, k, err)
		}
	}
	return s, nil
}

// setColumn sets one column of an EMQX context.
func (s *Sample) setColumn(k string, v any) error {
	if p := s.textColumn(k); p != nil {
		return setText(p, v)
	}
	switch k {
	case "payload":
		if t, ok := v.(string); ok {
			s.Payload = t
			return nil
		}
		b, err := json.Marshal(v) // an object stands for its JSON text
		s.Payload = string(b)
		return err
	case "qos", "proto_ver":
		n, err := intColumn(v, 0, 255)
		if k == "qos" {
			s.QoS = byte(n)
		} else {
			s.ProtoVer = byte(n)
		}
		return err
	case "keepalive":
		n, err := intColumn(v, 0, 65535)
		s.KeepAlive = uint16(n)
		return err
	case "expiry_interval":
		n, err := intColumn(v, 0, 1<<32-1)
		s.ExpiryInterval = uint32(n)
		return err
	case "timestamp":
		n, err := intColumn(v, 0, 1<<62)
		s.Timestamp = n
		return err
	case "retain", "clean_start", "is_cache", "is_superuser", "is_anonymous":
		return setBool(s.boolColumn(k), v)
	case "conn_props", "disconn_props", "sub_props", "unsub_props", "puback_props":
		m, ok := v.(map[string]any)
		if !ok {
			return errors.New("want an object")
		}
		s.Props = m
	case "user_properties":
		return s.setUserProperties(v)
	case "pub_props": // its User-Property; the other properties are not modelled
		m, ok := v.(map[string]any)
		if !ok {
			return errors.New("want an object")
		}
		if up, ok := m["User-Property"]; ok {
			return s.setUserProperties(up)
		}
	}
	return nil
}

// setUserProperties sets the message's user properties from an object.
func (s *Sample) setUserProperties(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return errors.New("want an object")
	}
	s.UserProperties = map[string]string{}
	for uk, uv := range m {
		s.UserProperties[uk] = fmt.Sprint(uv)
	}
	return nil
}

// textColumn returns the string field of a text column, or nil.
func (s *Sample) textColumn(k string) *string {
	switch k {
	case "event_type":
		return &s.Event
	case "clientid":
		return &s.ClientID
	case "username":
		return &s.Username
	case "from_clientid":
		return &s.FromClientID
	case "from_username":
		return &s.FromUsername
	case "topic":
		return &s.Topic
	case "peerhost", "peername":
		return &s.PeerHost
	case "sockname":
		return &s.SockName
	case "listener":
		return &s.Listener
	case "reason", "reason_code":
		return &s.Reason
	case "node":
		return &s.Node
	case "action":
		return &s.Action
	case "result":
		return &s.Result
	case "authz_source":
		return &s.AuthzSource
	}
	return nil
}

func (s *Sample) boolColumn(k string) *bool {
	switch k {
	case "retain":
		return &s.Retain
	case "clean_start":
		return &s.CleanStart
	case "is_cache":
		return &s.IsCache
	case "is_superuser":
		return &s.IsSuperuser
	}
	return &s.IsAnonymous
}

func setText(p *string, v any) error {
	t, ok := v.(string)
	if !ok {
		return fmt.Errorf("want a string, got %s", FromAny(v).k)
	}
	*p = t
	return nil
}

func setBool(p *bool, v any) error {
	switch b := v.(type) {
	case bool:
		*p = b
	case string: // EMQX's own tests write "false"
		*p = b == "true"
	default:
		return errors.New("want a bool")
	}
	return nil
}

func intColumn(v any, lo, hi int64) (int64, error) {
	n, ok := FromAny(v).AsInt()
	if !ok || n < lo || n > hi {
		return 0, fmt.Errorf("want an integer from %d to %d", lo, hi)
	}
	return n, nil
}
