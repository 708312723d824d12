package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/auth/httpauth"
	"github.com/iothub-dev/iothub/auth/jwt"
	"github.com/iothub-dev/iothub/auth/users"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/broker"
)

// security is the hub's authentication and authorization, built from the
// auth and limits sections of the config.
type security struct {
	devices auth.Authenticator // the registry's, for "devices" in auth.chain (devices.go)
	bans    *auth.BanList      // always present, so that the API can ban at run time
	users   *users.Store       // nil unless "users" is in auth.chain
	http    *httpauth.Authenticator
	authn   auth.Authenticator
	authz   auth.Authorizer // nil: everything allowed
}

// newSecurity builds the authenticator chain and the ACL around bans (the
// ban list lives as long as the hub, across reloads).
func newSecurity(cfg config.Config, bans *auth.BanList, devices auth.Authenticator) (*security, error) {
	sec := &security{bans: bans, devices: devices}
	a := cfg.Auth
	for _, b := range a.Ban.Static {
		if err := sec.bans.AddStatic(auth.Ban{Kind: auth.BanKind(b.Kind), Value: b.Value, Reason: b.Reason}); err != nil {
			return nil, fmt.Errorf("auth.ban.static: %w", err)
		}
	}
	chain := &auth.AuthnChain{Bans: sec.bans, AllowAnonymous: cfg.MQTT.AllowAnonymous}
	if len(a.Chain) > 0 {
		chain.AllowAnonymous = a.AllowAnonymous
	}
	if t := a.Throttle; t.Enabled && len(a.Chain) > 0 { // nothing to guess without authenticators
		chain.Throttle = &auth.Throttle{UsernameBurst: t.UsernameFailures, UsernameEvery: t.UsernameEvery.D(),
			AddressBurst: t.AddressFailures, AddressEvery: t.AddressEvery.D(), Familiar: t.FamiliarFor.D()}
	}
	if a.Ban.MaxFailures > 0 {
		chain.Failures = &auth.FailureTracker{MaxFailures: a.Ban.MaxFailures, Window: a.Ban.Window.D(),
			BanFor: a.Ban.BanFor.D(), Bans: sec.bans}
	}
	for _, name := range a.Chain {
		an, err := sec.authenticator(name, cfg)
		if err != nil {
			return nil, fmt.Errorf("auth.%s: %w", name, err)
		}
		chain.Authenticators = append(chain.Authenticators, an)
	}
	sec.authn = chain
	authz, err := newAuthorizer(a.ACL)
	if err != nil {
		return nil, err
	}
	sec.authz = thingACL(cfg.Devices.Enabled, authz) // devices.go
	return sec, nil
}

// authenticator builds the authenticator named in auth.chain.
func (sec *security) authenticator(name string, cfg config.Config) (auth.Authenticator, error) {
	a := cfg.Auth
	switch name {
	case "users":
		store, err := openUsers(cfg)
		if err != nil {
			return nil, err
		}
		sec.users = store
		return store, nil
	case "jwt":
		j := a.JWT
		an, err := jwt.New(jwt.Options{Secret: []byte(j.Secret), PublicKeyFile: j.PublicKeyFile, JWKSFile: j.JWKSFile,
			ClientIDClaim: j.ClientIDClaim, UsernameClaim: j.UsernameClaim, ACLClaim: j.ACLClaim,
			Issuer: j.Issuer, Audience: j.Audience, Leeway: j.Leeway.D()})
		if err != nil {
			return nil, fmt.Errorf("jwt: %w", err)
		}
		return an, nil
	case "http":
		h := a.HTTP
		ttl := h.CacheTTL.D()
		if ttl == 0 {
			ttl = -1 // config 0 means no cache
		}
		an, err := httpauth.New(httpauth.Options{URL: h.URL, Timeout: h.Timeout.D(), RequestTimeout: h.RequestTimeout.D(),
			PoolSize: h.PoolSize, CacheTTL: ttl, OnError: h.OnError})
		if err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
		sec.http = an
		return an, nil
	case "cert":
		return auth.CertAuthenticator{ClientIDs: a.Cert.ClientIDs}, nil
	case "devices":
		if !cfg.Devices.Enabled || sec.devices == nil {
			return nil, fmt.Errorf("devices: the device registry is off (devices.enabled: false)")
		}
		return sec.devices, nil
	}
	return nil, fmt.Errorf("unknown authenticator %q", name)
}

// usersPath returns the user file: auth.users.file or data_dir/users.json.
func usersPath(cfg config.Config) string {
	if cfg.Auth.Users.File != "" {
		return cfg.Auth.Users.File
	}
	return filepath.Join(cfg.DataDir, users.FileName)
}

// openUsers opens the user store of cfg.
func openUsers(cfg config.Config) (*users.Store, error) {
	u := cfg.Auth.Users
	static := make([]users.User, len(u.Static))
	for i, s := range u.Static {
		static[i] = users.User{Username: s.Username, PasswordHash: s.PasswordHash, Superuser: s.Superuser, ClientIDs: s.ClientIDs}
	}
	ttl := u.CacheTTL.D()
	if ttl == 0 {
		ttl = -1 // config 0 means never cache
	}
	store, err := users.Open(users.Options{Path: usersPath(cfg), Static: static, Cost: u.BcryptCost, CacheTTL: ttl,
		ClientIDs: u.ClientIDs})
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return store, nil
}

// newAuthorizer builds the ACL: the identity's own rules (JWT or HTTP
// answer) and the configured rules, then rules from auth.acl.file. With no
// rule at all and default allow it returns nil: nothing to check.
func newAuthorizer(c config.ACL) (auth.Authorizer, error) {
	var rules []auth.Rule
	for i, r := range c.Rules {
		action, _ := auth.ParseAction(r.Action)
		perm := auth.Allow
		if r.Permission == "deny" {
			perm = auth.Deny
		}
		rule, err := auth.NewRule(perm, auth.Who{ClientID: r.Who.ClientID, Username: r.Who.Username,
			Address: r.Who.Address, All: r.Who.All}, action, r.Topics)
		if err != nil {
			return nil, fmt.Errorf("auth.acl.rules.%d: %w", i, err)
		}
		rules = append(rules, rule)
	}
	if c.File != "" {
		data, err := os.ReadFile(c.File)
		if err != nil {
			return nil, fmt.Errorf("auth.acl.file: %w", err)
		}
		more, err := auth.ParseRules(string(data))
		if err != nil {
			return nil, fmt.Errorf("auth.acl.file %s: %w", c.File, err)
		}
		rules = append(rules, more...)
	}
	def := auth.Allow
	if c.Default == "deny" {
		def = auth.Deny
	}
	acl, err := auth.NewACL(rules)
	if err != nil {
		return nil, fmt.Errorf("auth.acl: %w", err)
	}
	return &auth.AuthzChain{Authorizers: []auth.Authorizer{auth.IdentityRules{}, acl}, Default: def}, nil
}

// apply puts the security settings and the rate limits into broker options.
func (sec *security) apply(o *broker.Options, cfg config.Config) {
	o.Authenticator = sec.authn
	o.Authorizer = sec.authz
	o.DisconnectOnDeny = cfg.Auth.ACL.DisconnectOnDeny
	o.AllowSessionTakeover = !cfg.Auth.SessionOwnership
	o.RateLimits = rateLimits(cfg.Limits)
}

// rateLimits maps the limits section to broker rate limits.
func rateLimits(l config.Limits) broker.RateLimits {
	rate := func(perSec, burst int) broker.Rate {
		return broker.Rate{PerSecond: float64(perSec), Burst: float64(burst)}
	}
	rl := broker.RateLimits{
		ClientMessages: rate(l.Client.PublishRate, l.Client.PublishBurst),
		ClientBytes:    rate(l.Client.PublishBytesRate, l.Client.PublishBytesBurst),
	}
	if len(l.Listeners) > 0 {
		rl.Listeners = map[string]broker.ListenerRates{}
	}
	for _, ll := range l.Listeners {
		rl.Listeners[ll.Name] = broker.ListenerRates{
			Connections: rate(ll.ConnectionRate, ll.ConnectionBurst),
			Messages:    rate(ll.PublishRate, 0),
			Bytes:       rate(ll.PublishBytesRate, 0),
		}
	}
	return rl
}

// close releases the HTTP authentication service's idle connections.
func (sec *security) close() {
	if sec != nil && sec.http != nil {
		sec.http.Close()
	}
}

// ReloadSecurity rebuilds authentication, the ACL and the rate limits from
// next and swaps them into the running broker: new connections and every
// connected client's next PUBLISH or SUBSCRIBE use them (identities of
// connected clients are kept). Run-time bans survive. On error nothing
// changes.
func (a *App) ReloadSecurity(next config.Config) error {
	old := a.sec.Load()
	sec, err := newSecurity(next, old.bans, old.devices)
	if err != nil {
		return err
	}
	a.sec.Store(sec)
	a.broker.SetAuth(sec.authn, sec.authz)
	a.broker.SetAllowSessionTakeover(!next.Auth.SessionOwnership)
	a.broker.SetRateLimits(rateLimits(next.Limits))
	old.close()
	return nil
}

// newBanList returns the hub's ban list: the run-time bans of
// data_dir/bans.json, kept there on every change through the API (in
// memory only when data_dir is empty).
func newBanList(cfg config.Config) (*auth.BanList, error) {
	if cfg.DataDir == "" {
		return auth.NewBanList(), nil
	}
	bans, err := auth.LoadBanList(filepath.Join(cfg.DataDir, auth.BanFile))
	if err != nil {
		return nil, fmt.Errorf("bans: %w", err)
	}
	return bans, nil
}

// Bans returns the hub's ban list, for the HTTP API.
func (a *App) Bans() *auth.BanList { return a.sec.Load().bans }

// Users returns the user store (nil when "users" is not in auth.chain).
func (a *App) Users() *users.Store { return a.sec.Load().users }

// warnAnonymous logs loudly when clients get in without credentials.
func (a *App) warnAnonymous() {
	switch {
	case len(a.cfg.Auth.Chain) == 0 && a.cfg.MQTT.AllowAnonymous:
		a.log.Warn("anonymous access: every client is allowed to connect, publish and subscribe; configure authentication before exposing this hub")
	case len(a.cfg.Auth.Chain) == 0:
		a.log.Warn("no authenticator configured and mqtt.allow_anonymous is false: every client is refused")
	case a.cfg.Auth.AllowAnonymous:
		a.log.Warn("auth.allow_anonymous: clients no authenticator accepted connect anonymously",
			"chain", strings.Join(a.cfg.Auth.Chain, ","))
	}
}
