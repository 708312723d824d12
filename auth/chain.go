package auth

import (
	"context"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// AuthnChain runs authenticators in order; see the package documentation
// for its steps. Its fields must not change once it is in use (build a new
// chain to reload).
type AuthnChain struct {
	// Authenticators are asked in order; the first Allow or Deny decides.
	Authenticators []Authenticator
	// AllowAnonymous admits clients no authenticator decided on.
	AllowAnonymous bool
	// Bans refuses banned clients before any authenticator runs (nil: no
	// ban list).
	Bans *BanList
	// Failures counts failed logins per address (nil: not counted).
	Failures *FailureTracker
	// Throttle slows password guessing per username and per address
	// (nil: not slowed).
	Throttle *Throttle
}

// Authenticate implements Authenticator; it never returns NoOpinion.
func (c *AuthnChain) Authenticate(ctx context.Context, ci *ConnectInfo) Result {
	if ban, ok := c.Bans.Check(ci); ok {
		return Denied(packet.Banned, "banned: "+string(ban.Kind)+" "+ban.Value)
	}
	ip := ci.IP()
	if ok, what := c.Throttle.Allow(ci.Username, ip); !ok {
		return Denied(packet.ConnectionRateExceeded, "too many failed logins for this "+what+": try again later")
	}
	r := c.decide(ctx, ci)
	switch {
	case r.Decision == Allow:
		c.Failures.Succeed(ip)
		c.Throttle.Succeed(ci.Username, ip)
	case r.Code == packet.BadUsernameOrPassword || r.Code == packet.NotAuthorized || r.Code == packet.ClientIdentifierNotValid:
		c.Throttle.Fail(ci.Username, ip)
		if c.Failures.Fail(ip) {
			r.Reason += "; address banned after too many failed logins"
		}
	}
	return r
}

func (c *AuthnChain) decide(ctx context.Context, ci *ConnectInfo) Result {
	for i, a := range c.Authenticators {
		r := a.Authenticate(ctx, ci)
		switch r.Decision {
		case Allow:
			if r.Identity == nil {
				r.Identity = NewIdentity(ci, "")
			}
			return r
		case Deny:
			if r.Code == 0 {
				r.Code = packet.NotAuthorized
			}
			c.equalize(ctx, ci, c.Authenticators[:i])
			return r
		}
	}
	if c.AllowAnonymous {
		id := NewIdentity(ci, "anonymous")
		id.Anonymous = true
		return Allowed(id)
	}
	c.equalize(ctx, ci, c.Authenticators)
	if ci.HasCredentials() {
		return Denied(packet.BadUsernameOrPassword, "no authenticator accepted the credentials")
	}
	return Denied(packet.NotAuthorized, "anonymous access is not allowed")
}

// equalize lets the authenticators that passed on a refused client spend
// the time a real check would have taken (TimingEqualizer).
func (c *AuthnChain) equalize(ctx context.Context, ci *ConnectInfo, passed []Authenticator) {
	for _, a := range passed {
		if te, ok := a.(TimingEqualizer); ok {
			te.EqualizeTiming(ctx, ci)
		}
	}
}

// TimingEqualizer is implemented by an authenticator whose NoOpinion comes
// faster than its Deny, so that the difference would tell an attacker
// something: the user store answers an unknown username at once, but a
// known one with a wrong password only after a bcrypt check, which lets
// anyone list the usernames by timing. When a client is refused, AuthnChain
// calls EqualizeTiming on each authenticator that passed on it, which then
// spends what its real check costs (a bcrypt compare against a dummy hash).
// A client some later authenticator allows costs nothing extra.
//
// EqualizeTiming must be safe for concurrent use and return by ctx's
// deadline; it must not keep ci.
type TimingEqualizer interface {
	EqualizeTiming(ctx context.Context, ci *ConnectInfo)
}

// CertAuthenticator allows a client that presented a verified certificate
// from which its TLS listener took an identity (ConnectInfo.CertIdentity):
// the identity is the authenticated username and the principal. With
// ClientIDs set, the client id must match one of them (%u is the
// certificate identity: ["%u"] requires the client id to equal it), or
// the client is refused with Client Identifier not valid. Clients without
// a certificate identity get NoOpinion, so password or token
// authenticators can follow it in a chain.
type CertAuthenticator struct {
	// ClientIDs are the client ids a certificate holder may use (empty:
	// any).
	ClientIDs ClientIDPatterns
}

// Authenticate implements Authenticator.
func (a CertAuthenticator) Authenticate(_ context.Context, ci *ConnectInfo) Result {
	if ci.CertIdentity == "" {
		return Pass
	}
	id := NewIdentity(ci, "cert")
	id.Username, id.Principal = ci.CertIdentity, ci.CertIdentity
	if r, ok := CheckClientID(a.ClientIDs, id, "cert"); !ok {
		return r
	}
	return Allowed(id)
}

var (
	_ Authenticator = (*AuthnChain)(nil)
	_ Authenticator = CertAuthenticator{}
)
