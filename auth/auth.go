package auth

import (
	"context"
	"net"
	"net/netip"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// ConnectInfo is what an Authenticator sees of a connecting client. The
// broker fills it from CONNECT and the connection; authenticators must not
// modify it.
type ConnectInfo struct {
	// ClientID is the client identifier (assigned by the hub when the
	// client sent an empty one, or taken from its certificate).
	ClientID string
	// Username is the CONNECT user name ("" when none was sent), or the
	// identity from the client certificate when the listener is configured
	// with identity_as: username.
	Username string
	// Password is the CONNECT password (nil when none was sent). It aliases
	// the packet: copy it to keep it.
	Password []byte
	// RemoteAddr is the peer's "host:port".
	RemoteAddr string
	// Listener is the name of the listener the client connected to.
	Listener string
	// ProtoVer is the MQTT protocol level: 3 (3.1), 4 (3.1.1) or 5.
	ProtoVer byte
	// CertIdentity is the identity a TLS listener took from the client's
	// verified certificate (identity_from: cn or san); "" when the client
	// sent no certificate or the listener takes no identity from it.
	CertIdentity string
	// CertFingerprint is the SHA-256 of the client's verified certificate
	// (lowercase hex), whether or not the listener takes an identity from
	// it; "" without one.
	CertFingerprint string
	// TLS reports whether the connection is encrypted.
	TLS bool
}

// HasCredentials reports whether the client sent a username or a password.
func (ci *ConnectInfo) HasCredentials() bool {
	return ci.Username != "" || len(ci.Password) > 0
}

// IP returns the peer's IP address (invalid when RemoteAddr has none).
func (ci *ConnectInfo) IP() netip.Addr {
	return addrIP(ci.RemoteAddr)
}

func addrIP(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

// Identity is who an authenticated (or anonymous) client is, as seen by
// authorizers. The broker keeps it for the life of the connection; it must
// not be modified after Authenticate returns it.
type Identity struct {
	// ClientID is the client identifier.
	ClientID string
	// Username is the authenticated user name; for an anonymous client the
	// unverified one it sent.
	Username string
	// IP is the peer's address.
	IP netip.Addr
	// Listener is the listener the client connected to.
	Listener string
	// Anonymous is set when no authenticator vouched for the client.
	// Rules that match by username never match an anonymous identity.
	Anonymous bool
	// Superuser skips authorization entirely (an HTTP authentication
	// service may grant it).
	Superuser bool
	// Authenticator names the authenticator that allowed the client.
	Authenticator string
	// Principal is who the authenticator vouched for: the user name
	// (users, http), the certificate identity (cert), the token's subject
	// (jwt); "" when it vouched for the client id alone (the device
	// registry). It makes the session owner (Owner).
	Principal string
	// Rules are ACL rules that came with the credentials (a JWT claim, an
	// HTTP authentication answer); IdentityRules applies them. nil: none.
	// A pointer, not a slice, because the broker keeps an Identity for
	// every connection: with a slice it is 136 bytes, in Go's 144-byte
	// size class; with a pointer 120, in the 128-byte class.
	Rules *[]Rule
}

// rules returns id's own rules (nil: none).
func (id *Identity) rules() []Rule {
	if id.Rules == nil {
		return nil
	}
	return *id.Rules
}

// NewIdentity returns the identity of ci, allowed by the authenticator
// named by.
func NewIdentity(ci *ConnectInfo, by string) *Identity {
	return &Identity{
		ClientID:      ci.ClientID,
		Username:      ci.Username,
		IP:            ci.IP(),
		Listener:      ci.Listener,
		Authenticator: by,
	}
}

// Decision is an authenticator's or authorizer's answer.
type Decision uint8

// The decisions.
const (
	// NoOpinion passes the question to the next in the chain.
	NoOpinion Decision = iota
	// Allow grants.
	Allow
	// Deny refuses.
	Deny
)

// String returns "no_opinion", "allow" or "deny".
func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "no_opinion"
}

// Result is an Authenticator's answer.
type Result struct {
	// Decision is Allow, Deny or NoOpinion.
	Decision Decision
	// Identity is set with Allow.
	Identity *Identity
	// Code is the MQTT 5 CONNACK reason code that goes with Deny:
	// BadUsernameOrPassword, NotAuthorized, Banned, ServerUnavailable or
	// ServerBusy. The broker maps it to the 3.1.1 return code.
	Code packet.ReasonCode
	// Reason says why, for the log ("bad password", "token expired").
	Reason string
}

// Allowed returns an Allow result with id.
func Allowed(id *Identity) Result { return Result{Decision: Allow, Identity: id} }

// Denied returns a Deny result with the reason code and a reason for logs.
func Denied(code packet.ReasonCode, reason string) Result {
	return Result{Decision: Deny, Code: code, Reason: reason}
}

// Pass is the NoOpinion result.
var Pass = Result{}

// Authenticator decides whether a client may connect.
//
// Authenticate must be safe for concurrent use. It may block (a password
// hash, a network request) but must return by ctx's deadline; it must not
// keep or modify ci. It returns Allow with a non-nil Identity, Deny with a
// reason code, or NoOpinion to let the next authenticator of an AuthnChain
// decide.
type Authenticator interface {
	Authenticate(ctx context.Context, ci *ConnectInfo) Result
}

// Action is what a client wants to do with a topic.
type Action uint8

// The actions. ActionAll in a Rule means both.
const (
	ActionPublish Action = 1 << iota
	ActionSubscribe
	ActionAll = ActionPublish | ActionSubscribe
)

// String returns "publish", "subscribe" or "all".
func (a Action) String() string {
	switch a {
	case ActionPublish:
		return "publish"
	case ActionSubscribe:
		return "subscribe"
	case ActionAll:
		return "all"
	}
	return "none"
}

// Authorizer decides whether an identity may publish to a topic name
// (ActionPublish) or subscribe to a topic filter (ActionSubscribe; a
// shared subscription's "$share/group/" prefix is removed before the
// call).
//
// Authorize must be safe for concurrent use, must not block (the broker
// calls it on a connection's read goroutine, though it caches answers per
// connection) and must not modify id. NoOpinion lets the next authorizer
// of an AuthzChain answer.
type Authorizer interface {
	Authorize(ctx context.Context, id *Identity, action Action, topic string) Decision
}

// AuthzChain asks its authorizers in order: any Deny wins, otherwise any
// Allow allows, otherwise Default applies (NoOpinion counts as Allow). A
// superuser identity is allowed without asking. A nil *AuthzChain allows
// everything.
type AuthzChain struct {
	// Authorizers are asked in order.
	Authorizers []Authorizer
	// Default answers when every authorizer has no opinion.
	Default Decision
}

// Authorize implements Authorizer; it never returns NoOpinion.
func (c *AuthzChain) Authorize(ctx context.Context, id *Identity, action Action, topic string) Decision {
	if c == nil || id != nil && id.Superuser {
		return Allow
	}
	allowed := false
	for _, a := range c.Authorizers {
		switch a.Authorize(ctx, id, action, topic) {
		case Deny:
			return Deny
		case Allow:
			allowed = true
		}
	}
	if allowed || c.Default != Deny {
		return Allow
	}
	return Deny
}

// IdentityRules is the Authorizer of the rules carried by the identity
// (Identity.Rules, from a JWT claim): the first matching rule answers, and
// no rule (or no match) is NoOpinion.
type IdentityRules struct{}

// Authorize implements Authorizer.
func (IdentityRules) Authorize(_ context.Context, id *Identity, action Action, topic string) Decision {
	if id == nil {
		return NoOpinion
	}
	return evalRules(id.rules(), id, action, topic)
}

var (
	_ Authorizer = (*AuthzChain)(nil)
	_ Authorizer = IdentityRules{}
)
