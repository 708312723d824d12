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
}

// Authenticate implements Authenticator; it never returns NoOpinion.
func (c *AuthnChain) Authenticate(ctx context.Context, ci *ConnectInfo) Result {
	if ban, ok := c.Bans.Check(ci); ok {
		return Denied(packet.Banned, "banned: "+string(ban.Kind)+" "+ban.Value)
	}
	r := c.decide(ctx, ci)
	switch {
	case r.Decision == Allow:
		c.Failures.Succeed(ci.IP())
	case r.Code == packet.BadUsernameOrPassword || r.Code == packet.NotAuthorized:
		if c.Failures.Fail(ci.IP()) {
			r.Reason += "; address banned after too many failed logins"
		}
	}
	return r
}

func (c *AuthnChain) decide(ctx context.Context, ci *ConnectInfo) Result {
	for _, a := range c.Authenticators {
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
			return r
		}
	}
	if c.AllowAnonymous {
		id := NewIdentity(ci, "anonymous")
		id.Anonymous = true
		return Allowed(id)
	}
	if ci.HasCredentials() {
		return Denied(packet.BadUsernameOrPassword, "no authenticator accepted the credentials")
	}
	return Denied(packet.NotAuthorized, "anonymous access is not allowed")
}

// CertAuthenticator allows a client that presented a verified certificate
// from which its TLS listener took an identity (ConnectInfo.CertIdentity):
// the identity is the authenticated username. Clients without one get
// NoOpinion, so password or token authenticators can follow it in a chain.
type CertAuthenticator struct{}

// Authenticate implements Authenticator.
func (CertAuthenticator) Authenticate(_ context.Context, ci *ConnectInfo) Result {
	if ci.CertIdentity == "" {
		return Pass
	}
	id := NewIdentity(ci, "cert")
	id.Username = ci.CertIdentity
	return Allowed(id)
}

var (
	_ Authenticator = (*AuthnChain)(nil)
	_ Authenticator = CertAuthenticator{}
)
