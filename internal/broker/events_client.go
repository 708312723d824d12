package broker

import (
	"strings"
	"time"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// This file builds the client events that only rules read — CONNACK,
// authentication and authorization outcomes — and the properties and
// addresses the client events carry. Each is built only when a handler
// wants its kind (EventFilter), so a hub with no rule on them pays one
// wants check per CONNECT, PUBLISH or SUBSCRIBE.

// propsMap returns the MQTT 5 properties of p that rules read (EMQX's
// conn_props, disconn_props, sub_props, puback_props), under the
// specification's names, or nil when p has none.
func propsMap(p *packet.Properties) map[string]any {
	m := map[string]any{}
	if len(p.User) > 0 {
		u := make(map[string]any, len(p.User))
		for _, kv := range p.User {
			u[kv.Key] = kv.Value
		}
		m["User-Property"] = u
	}
	if p.HasSessionExpiry {
		m["Session-Expiry-Interval"] = int64(p.SessionExpiry)
	}
	if p.ReceiveMaximum != 0 {
		m["Receive-Maximum"] = int64(p.ReceiveMaximum)
	}
	if p.MaximumPacketSize != 0 {
		m["Maximum-Packet-Size"] = int64(p.MaximumPacketSize)
	}
	if p.TopicAliasMaximum != 0 {
		m["Topic-Alias-Maximum"] = int64(p.TopicAliasMaximum)
	}
	if p.RequestResponseInfo != 0 {
		m["Request-Response-Information"] = int64(p.RequestResponseInfo)
	}
	if p.HasRequestProblemInfo {
		m["Request-Problem-Information"] = int64(p.RequestProblemInfo)
	}
	if p.AuthMethod != "" {
		m["Authentication-Method"] = p.AuthMethod
	}
	if p.ReasonString != "" {
		m["Reason-String"] = p.ReasonString
	}
	if p.ServerReference != "" {
		m["Server-Reference"] = p.ServerReference
	}
	if len(p.SubscriptionIDs) > 0 {
		m["Subscription-Identifier"] = int64(p.SubscriptionIDs[0])
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// wantsConnectEvents reports whether a handler reads the CONNECT's
// properties (connected or connack events).
func (s *Server) wantsConnectEvents() bool {
	return s.events.wants(msg.EventClientConnected) || s.events.wants(msg.EventClientConnack)
}

// emitConnack emits client_connack for the CONNECT p, answered with code.
func (c *conn) emitConnack(p *packet.Connect, cp *connectParams, code packet.ReasonCode) {
	if !c.s.events.wants(msg.EventClientConnack) {
		return
	}
	ev := msg.Event{
		Kind: msg.EventClientConnack, Time: time.Now(), Node: c.s.opts.NodeName,
		ClientID: p.ClientID, Username: p.Username, PeerHost: c.remote, SockName: c.sockName(),
		ProtoVer: byte(p.Version), KeepAlive: p.KeepAlive, CleanStart: p.CleanStart, Listener: c.listenerName(),
		Reason: connackReason(code), Props: propsMap(&p.Properties),
	}
	if cp != nil {
		ev.ClientID, ev.Username, ev.ExpiryInterval = cp.clientID, cp.username, cp.expiry
	}
	c.s.events.emitUnlocked(ev)
}

// connackReason names a CONNACK code as EMQX does: "success", or the
// refusal in snake case ("not_authorized").
func connackReason(code packet.ReasonCode) string {
	if code == packet.Success {
		return "success"
	}
	return strings.ToLower(reasonLabel(packet.ConnackReasonV5(code)))
}

// emitAuthn emits client_check_authn_complete: code is Success or the
// refusal, id the identity allowed (nil when refused).
func (c *conn) emitAuthn(ci *auth.ConnectInfo, id *auth.Identity, code packet.ReasonCode) {
	if !c.s.events.wants(msg.EventClientAuthnComplete) {
		return
	}
	ev := msg.Event{
		Kind: msg.EventClientAuthnComplete, Time: time.Now(), Node: c.s.opts.NodeName,
		ClientID: ci.ClientID, Username: ci.Username, PeerHost: c.remote, SockName: c.sockName(),
		Listener: c.listenerName(), ProtoVer: ci.ProtoVer, Reason: connackReason(code),
	}
	if id != nil {
		ev.IsSuperuser, ev.IsAnonymous = id.Superuser, id.Anonymous
	}
	c.s.events.emitUnlocked(ev)
}

// emitAuthz emits client_check_authz_complete for one check of action on
// name (a topic, or a filter), answered ok, from the cache or by source.
func (c *conn) emitAuthz(action auth.Action, name string, ok, cached bool, source string) {
	if !c.s.events.wants(msg.EventClientAuthzComplete) {
		return
	}
	ev := msg.Event{
		Kind: msg.EventClientAuthzComplete, Time: time.Now(), Node: c.s.opts.NodeName,
		PeerHost: c.remote, Filter: strings.Clone(name), Action: action.String(),
		Result: "deny", AuthzSource: source, IsCache: cached,
	}
	if ok {
		ev.Result = "allow"
	}
	if id := c.auth.id; id != nil {
		ev.ClientID, ev.Username = id.ClientID, id.Username
	}
	if cached {
		ev.AuthzSource = "cache"
	}
	c.s.events.emitUnlocked(ev)
}
