package broker

import (
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/logging"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// This file connects the broker to package auth: authentication at
// CONNECT, authorization of PUBLISH and SUBSCRIBE through a per-connection
// decision cache, and the rate-limited log of denials.

// security is the Server's authentication, authorization and rate-limit
// state; everything in it is swapped atomically on reload.
type security struct {
	hooks  atomic.Pointer[authHooks]
	limits atomic.Pointer[rateState]
	// takeover is Options.AllowSessionTakeover, changed by
	// SetAllowSessionTakeover; ownerLog rate-limits refused takeovers.
	takeover atomic.Bool
	ownerLog logging.Limiter
	denyLog  logging.Limiter
	// authLog and refuseLog rate-limit the lines of failed logins and
	// refused CONNECTs: a flood of them must not flood the log.
	authLog, refuseLog logging.Limiter
	// authCtx gives authentications their deadline (authctx.go).
	authCtx authContexts
}

// authHooks is one generation of the authenticator and authorizer.
type authHooks struct {
	authn auth.Authenticator // nil: everyone may connect
	authz auth.Authorizer    // nil: everything is allowed
	gen   uint64             // bumped by SetAuth; invalidates conn caches
}

func (sec *security) init(o *Options) {
	sec.hooks.Store(&authHooks{authn: o.Authenticator, authz: o.Authorizer, gen: 1})
	sec.limits.Store(newRateState(o.RateLimits))
	sec.takeover.Store(o.AllowSessionTakeover)
}

// SetAllowSessionTakeover changes Options.AllowSessionTakeover at run time:
// it applies to the next CONNECT.
func (s *Server) SetAllowSessionTakeover(allow bool) { s.sec.takeover.Store(allow) }

// ownerRefused answers a CONNECT whose client id's session belongs to
// another identity: Not authorized, counted and logged (rate-limited).
func (c *conn) ownerRefused(cp *connectParams, owner string) {
	c.s.stats.sessionOwnerRefused.Add(1)
	c.s.sec.ownerLog.Warn(c.logger(), "session takeover refused: the session belongs to another identity",
		"client_id", cp.clientID, "identity", c.auth.id.Owner(), "owner", owner)
	c.refuse(c.connackCode(packet.NotAuthorized))
}

// SetAuth replaces the authenticator and the authorizer (nil: allow all) at
// run time. New connections use them at once; connected clients keep their
// identity, and their cached authorization decisions are dropped so that
// their next PUBLISH or SUBSCRIBE is checked against the new rules.
func (s *Server) SetAuth(authn auth.Authenticator, authz auth.Authorizer) {
	old := s.sec.hooks.Load()
	s.sec.hooks.Store(&authHooks{authn: authn, authz: authz, gen: old.gen + 1})
}

// aclCacheSize bounds one connection's cache of authorization decisions.
const aclCacheSize = 256

type aclKey struct {
	action auth.Action
	topic  string
}

// authState is a connection's identity and decision cache, owned by its
// read goroutine.
type authState struct {
	id    *auth.Identity
	gen   uint64
	cache map[aclKey]uint8 // publish: 1 allowed, 0 not; subscribe: auth.Access
}

// connectInfo describes c and its CONNECT for the authenticator.
func (c *conn) connectInfo(p *packet.Connect, cp *connectParams) *auth.ConnectInfo {
	certUser, certClient := c.certIdentity()
	ci := &auth.ConnectInfo{
		ClientID:     cp.clientID,
		Username:     cp.username,
		Password:     p.Password,
		RemoteAddr:   c.remote,
		Listener:     c.listenerName(),
		ProtoVer:     byte(p.Version),
		CertIdentity: certUser + certClient, // at most one is set
	}
	if f, ok := c.nc.(interface{ CertFingerprint() string }); ok {
		ci.CertFingerprint = f.CertFingerprint()
	}
	ci.TLS = ci.CertIdentity != "" || ci.CertFingerprint != ""
	switch u := c.nc.(type) {
	case *tls.Conn:
		ci.TLS = true
	case interface{ Encrypted() bool }: // the listener's connections
		ci.TLS = ci.TLS || u.Encrypted()
	}
	return ci
}

// authenticate runs the authenticator for an accepted CONNECT and checks
// that the will may be published. It returns the CONNACK code (Success to
// go on) and sets c.auth.id; the username of cp becomes the identity's.
// It runs on the read goroutine without broker locks, and may block up to
// the connect timeout.
func (c *conn) authenticate(p *packet.Connect, cp *connectParams) packet.ReasonCode {
	hooks := c.s.sec.hooks.Load()
	ci := c.connectInfo(p, cp)
	id := auth.NewIdentity(ci, "")
	if hooks.authn != nil {
		ctx := c.s.sec.authCtx.at(time.Now(), c.s.opts.ConnectTimeout)
		r := hooks.authn.Authenticate(ctx, ci)
		if r.Decision != auth.Allow || r.Identity == nil {
			c.s.stats.authFailed.Add(1)
			code := r.Code
			if r.Decision != auth.Deny || code < 0x80 {
				code = packet.NotAuthorized
			}
			c.emitAuthn(ci, nil, code) // events_client.go
			c.s.stats.authFailedBy.add(reasonLabel(code), 1)
			c.s.sec.authLog.Log(c.logger(), slog.LevelInfo, "authentication failed", "client_id", ci.ClientID,
				"username", ci.Username, "code", reasonLabel(code), "reason", r.Reason)
			return c.connackCode(code)
		}
		c.s.stats.authSucceeded.Add(1)
		id = r.Identity
	}
	c.emitAuthn(ci, id, packet.Success)
	c.auth = authState{id: id, gen: hooks.gen}
	if id.Username != "" && !id.Anonymous {
		cp.username = id.Username
	}
	if cp.will != nil && !c.authorize(auth.ActionPublish, cp.will.Topic) {
		c.denied(auth.ActionPublish, cp.will.Topic)
		return c.connackCode(packet.NotAuthorized)
	}
	return packet.Success
}

// connackCode maps an MQTT 5 refusal to the 3.1.1 return code for 3.1.1
// clients.
func (c *conn) connackCode(code packet.ReasonCode) packet.ReasonCode {
	if c.version == packet.V5 {
		return code
	}
	switch code {
	case packet.BadUsernameOrPassword:
		return packet.V311BadUsernameOrPassword
	case packet.ClientIdentifierNotValid:
		return packet.V311IdentifierRejected
	case packet.ConnectionRateExceeded:
		return packet.V311ServerUnavailable
	case packet.ServerUnavailable, packet.ServerBusy:
		return packet.V311ServerUnavailable
	}
	return packet.V311NotAuthorized
}

// authorize reports whether c's identity may publish to the topic name,
// through the cache.
func (c *conn) authorize(action auth.Action, name string) bool {
	return c.decide(action, name, func(h *authHooks) uint8 {
		if h.authz.Authorize(context.Background(), c.auth.id, action, name) == auth.Allow {
			return 1
		}
		return 0
	}) == 1
}

// subscribeAccess says what c's identity may read of the topics filter can
// match ($share/group/ removed; readacl.go), through the cache.
func (c *conn) subscribeAccess(filter string) auth.Access {
	return auth.Access(c.decide(auth.ActionSubscribe, filter, func(h *authHooks) uint8 {
		return uint8(filterAccess(h, c.auth.id, filter))
	}))
}

// decide answers for (action, name) from the connection's cache, or asks
// compute and remembers its answer; without an authorizer it answers
// allowed (1, auth.ReadAll: both 0 would be wrong, see the callers).
func (c *conn) decide(action auth.Action, name string, compute func(*authHooks) uint8) uint8 {
	hooks := c.s.sec.hooks.Load()
	if hooks.authz == nil {
		c.emitAuthz(action, name, true, false, "default") // events_client.go
		if action == auth.ActionPublish {
			return 1
		}
		return uint8(auth.ReadAll)
	}
	st := &c.auth
	if st.gen != hooks.gen || len(st.cache) >= aclCacheSize {
		st.gen = hooks.gen
		clear(st.cache)
	}
	key := aclKey{action, name}
	if v, hit := st.cache[key]; hit {
		c.emitAuthz(action, name, decisionAllows(action, v), true, "cache")
		return v
	}
	v := compute(hooks)
	if st.cache == nil {
		st.cache = make(map[aclKey]uint8, 8)
	}
	key.topic = strings.Clone(key.topic) // the topic may alias a packet buffer
	st.cache[key] = v
	c.emitAuthz(action, key.topic, decisionAllows(action, v), false, "acl")
	return v
}

// decisionAllows reports whether a cached decision v of action lets the
// client go on: a publish allowed, a subscription that can read something.
func decisionAllows(action auth.Action, v uint8) bool {
	if action == auth.ActionPublish {
		return v == 1
	}
	return auth.Access(v) != auth.ReadNone
}

// denied counts and logs (at most once a second) a refused action.
func (c *conn) denied(action auth.Action, name string) {
	if action == auth.ActionPublish {
		c.s.stats.authzDeniedPublish.Add(1)
	} else {
		c.s.stats.authzDeniedSubscribe.Add(1)
	}
	id := c.auth.id
	if id == nil {
		id = &auth.Identity{}
	}
	c.s.sec.denyLog.Warn(c.logger(), "not authorized", "client_id", id.ClientID, "username", id.Username,
		"action", action.String(), "topic", name)
}

// publishDenied answers a PUBLISH the authorizer refused: v5 QoS 1/2 get
// Not authorized (0x87) in PUBACK/PUBREC, 3.1.1 and QoS 0 messages are
// dropped; with Options.DisconnectOnDeny the connection is then closed.
func (c *conn) publishDenied(p *packet.Publish) error {
	c.denied(auth.ActionPublish, p.Topic)
	if err := c.ackPublish(p, packet.NotAuthorized); err != nil {
		return err
	}
	if c.s.opts.DisconnectOnDeny {
		c.closeWith(packet.NotAuthorized, "not_authorized", "publish to "+p.Topic+" not authorized")
	}
	return nil
}

// maySubscribe says what c may read through a subscription to filter; a
// filter that can match nothing it may read (auth.ReadNone) is refused,
// counted and logged.
func (c *conn) maySubscribe(filter string) auth.Access {
	a := c.subscribeAccess(filter)
	if a == auth.ReadNone {
		c.denied(auth.ActionSubscribe, filter)
	}
	return a
}

// mayPublish reports whether c may publish to p's topic.
func (c *conn) mayPublish(p *packet.Publish) bool {
	return c.authorize(auth.ActionPublish, p.Topic)
}
