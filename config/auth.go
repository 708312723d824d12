package config

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/auth"
)

// Auth configures authentication (a chain of authenticators), the ACL and
// bans. See docs/security.md.
type Auth struct {
	// Chain lists the authenticators to ask, in order: users, jwt, http,
	// cert. Empty: no authentication (mqtt.allow_anonymous decides).
	Chain []string `yaml:"chain"`
	// AllowAnonymous admits clients that no authenticator of a non-empty
	// chain accepted (mqtt.allow_anonymous applies only without a chain).
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// Users configures the built-in user store.
	Users AuthUsers `yaml:"users"`
	// JWT configures the JWT authenticator.
	JWT AuthJWT `yaml:"jwt"`
	// HTTP configures the HTTP authentication service client.
	HTTP AuthHTTP `yaml:"http"`
	// Cert configures the client-certificate authenticator.
	Cert AuthCert `yaml:"cert"`
	// SessionOwnership keeps a session for the identity that created it:
	// a client of another identity cannot resume or take it over.
	SessionOwnership bool `yaml:"session_ownership"`
	// ACL configures authorization.
	ACL ACL `yaml:"acl"`
	// Ban configures failed-login bans and permanent bans.
	Ban Ban `yaml:"ban"`
	// Throttle slows password guessing per username and per address.
	Throttle Throttle `yaml:"throttle"`
}

// Throttle configures the brute-force throttle (auth.Throttle).
type Throttle struct {
	// Enabled turns the throttle on.
	Enabled bool `yaml:"enabled"`
	// UsernameFailures failed logins of one username are checked at once;
	// then one more per UsernameEvery.
	UsernameFailures int      `yaml:"username_failures"`
	UsernameEvery    Duration `yaml:"username_every"`
	// AddressFailures failed logins from one address are checked at once;
	// then one more per AddressEvery.
	AddressFailures int      `yaml:"address_failures"`
	AddressEvery    Duration `yaml:"address_every"`
	// FamiliarFor is how long a username that logged in from an address
	// is counted apart there.
	FamiliarFor Duration `yaml:"familiar_for"`
}

// AuthUsers configures the built-in user store.
type AuthUsers struct {
	// File is the JSON user file ("": users.json in data_dir).
	File string `yaml:"file"`
	// BcryptCost is the bcrypt cost of new password hashes, of MQTT users
	// and of dashboard users.
	BcryptCost int `yaml:"bcrypt_cost"`
	// CacheTTL is how long a successful login is remembered.
	CacheTTL Duration `yaml:"cache_ttl"`
	// Static users are defined here rather than in the file.
	Static []StaticUser `yaml:"static"`
	// ClientIDs are the client ids of users that name none of their own.
	ClientIDs []string `yaml:"client_ids"`
}

// AuthCert configures the client-certificate authenticator.
type AuthCert struct {
	// ClientIDs are the client ids a certificate holder may use ("%u": its
	// certificate identity).
	ClientIDs []string `yaml:"client_ids"`
}

// StaticUser is a user defined in the config file.
type StaticUser struct {
	// Username is the MQTT user name.
	Username string `yaml:"username"`
	// PasswordHash is a bcrypt hash (iothub users hash prints one).
	PasswordHash string `yaml:"password_hash"`
	// Superuser skips the ACL.
	Superuser bool `yaml:"superuser"`
	// ClientIDs are the client ids the user may connect with.
	ClientIDs []string `yaml:"client_ids"`
}

// AuthJWT configures the JWT authenticator; exactly one of Secret,
// PublicKeyFile and JWKSFile is set when "jwt" is in the chain.
type AuthJWT struct {
	// Secret is the HS256 shared secret.
	Secret string `yaml:"secret"`
	// PublicKeyFile is a PEM RSA or P-256 public key (RS256, ES256).
	PublicKeyFile string `yaml:"public_key_file"`
	// JWKSFile is a JSON Web Key Set file.
	JWKSFile string `yaml:"jwks_file"`
	// ClientIDClaim names a claim (a string or a list of strings) of the
	// client-id patterns the token admits ("lock-*", "%u" for its subject);
	// empty: any client id.
	ClientIDClaim string `yaml:"client_id_claim"`
	// UsernameClaim names a claim that must equal the username.
	UsernameClaim string `yaml:"username_claim"`
	// ACLClaim names a claim holding one-line ACL rules.
	ACLClaim string `yaml:"acl_claim"`
	// Issuer, when set, must equal the iss claim.
	Issuer string `yaml:"issuer"`
	// Audience, when set, must be in the aud claim.
	Audience string `yaml:"audience"`
	// Leeway tolerates clock skew in exp and nbf.
	Leeway Duration `yaml:"leeway"`
}

// AuthHTTP configures the HTTP authentication service client.
type AuthHTTP struct {
	// URL receives a POST per connecting client.
	URL string `yaml:"url"`
	// Timeout is how long a connecting device waits for the answer,
	// waiting for a free pooled connection included.
	Timeout Duration `yaml:"timeout"`
	// RequestTimeout bounds one request to the service: a request whose
	// device stopped waiting keeps its connection until the service
	// answers or this passes (at least Timeout).
	RequestTimeout Duration `yaml:"request_timeout"`
	// PoolSize is the most connections open to the service at once, and
	// the most requests in flight.
	PoolSize int `yaml:"pool_size"`
	// CacheTTL is how long an answer is remembered (0: not cached).
	CacheTTL Duration `yaml:"cache_ttl"`
	// OnError answers when the service fails: deny, allow or ignore.
	OnError string `yaml:"on_error"`
}

// ACL configures authorization.
type ACL struct {
	// Default answers when no rule matches: allow or deny.
	Default string `yaml:"default"`
	// File holds more rules in the one-line form, read after Rules.
	File string `yaml:"file"`
	// DisconnectOnDeny closes a connection after a refused PUBLISH.
	DisconnectOnDeny bool `yaml:"disconnect_on_deny"`
	// Rules are tried in order; the first that matches answers.
	Rules []ACLRule `yaml:"rules"`
}

// ACLRule is one ACL rule in the structured form.
type ACLRule struct {
	// Permission is allow or deny.
	Permission string `yaml:"permission"`
	// Who names the clients: exactly one key.
	Who ACLWho `yaml:"who"`
	// Action is publish, subscribe or all.
	Action string `yaml:"action"`
	// Topics are topic filters, with %c (client id) and %u (username).
	Topics []string `yaml:"topics"`
}

// ACLWho names the clients of a rule.
type ACLWho struct {
	// ClientID matches one client id.
	ClientID string `yaml:"client_id"`
	// Username matches one authenticated username.
	Username string `yaml:"username"`
	// Address matches an IP address or CIDR prefix.
	Address string `yaml:"address"`
	// All matches every client.
	All bool `yaml:"all"`
}

// Ban configures bans.
type Ban struct {
	// MaxFailures failed logins from one address within Window ban it for
	// BanFor (0: off).
	MaxFailures int `yaml:"max_failures"`
	// Window is the period failures are counted over.
	Window Duration `yaml:"window"`
	// BanFor is how long an address stays banned.
	BanFor Duration `yaml:"ban_for"`
	// Static bans hold until removed from the file.
	Static []StaticBan `yaml:"static"`
}

// StaticBan is a ban defined in the config file.
type StaticBan struct {
	// Kind is client_id, username or address.
	Kind string `yaml:"kind"`
	// Value is the client id, username, IP or CIDR.
	Value string `yaml:"value"`
	// Reason is shown in logs.
	Reason string `yaml:"reason"`
}

// Limits configures publish and connection rate limits; 0 means no limit.
type Limits struct {
	// Client limits apply to each client.
	Client ClientLimits `yaml:"client"`
	// Listeners limit all clients of a listener together.
	Listeners []ListenerLimits `yaml:"listeners"`
}

// ClientLimits are per-client publish limits.
type ClientLimits struct {
	// PublishRate is PUBLISH packets a second.
	PublishRate int `yaml:"publish_rate"`
	// PublishBurst is the packets allowed at once (0: publish_rate).
	PublishBurst int `yaml:"publish_burst"`
	// PublishBytesRate is payload bytes a second.
	PublishBytesRate int `yaml:"publish_bytes_rate"`
	// PublishBytesBurst is the bytes allowed at once (0: publish_bytes_rate).
	PublishBytesBurst int `yaml:"publish_bytes_burst"`
}

// ListenerLimits are one listener's limits.
type ListenerLimits struct {
	// Name is the listener's name.
	Name string `yaml:"name"`
	// ConnectionRate is new connections accepted a second.
	ConnectionRate int `yaml:"connection_rate"`
	// ConnectionBurst is the connections accepted at once (0: connection_rate).
	ConnectionBurst int `yaml:"connection_burst"`
	// PublishRate is PUBLISH packets a second, all clients together.
	PublishRate int `yaml:"publish_rate"`
	// PublishBytesRate is payload bytes a second, all clients together.
	PublishBytesRate int `yaml:"publish_bytes_rate"`
}

// defaultAuth is the auth section when nothing is configured: no
// authenticator, ACL default allow, no bans.
func defaultAuth() Auth {
	return Auth{
		Users: AuthUsers{BcryptCost: 10, CacheTTL: Duration(time.Minute)},
		HTTP: AuthHTTP{Timeout: Duration(5 * time.Second), RequestTimeout: Duration(time.Minute), PoolSize: 16,
			CacheTTL: Duration(30 * time.Second), OnError: "deny"},
		ACL:              ACL{Default: "allow"},
		SessionOwnership: true,
		Ban:              Ban{Window: Duration(time.Minute), BanFor: Duration(5 * time.Minute)},
		Throttle: Throttle{Enabled: true, UsernameFailures: 5, UsernameEvery: Duration(time.Minute),
			AddressFailures: 50, AddressEvery: Duration(time.Second), FamiliarFor: Duration(24 * time.Hour)},
	}
}

// Authenticators are the names auth.chain accepts.
var Authenticators = []string{"devices", "users", "jwt", "http", "cert"}

func (c *Config) validateAuth(v *checker) {
	a := &c.Auth
	seen := map[string]bool{}
	for i, name := range a.Chain {
		key := "auth.chain." + strconv.Itoa(i)
		v.oneOf(key, name, Authenticators...)
		if seen[name] {
			v.bad(key, "%q appears twice", name)
		}
		seen[name] = true
	}
	v.between("auth.users.bcrypt_cost", a.Users.BcryptCost, 4, 31)
	v.duration("auth.users.cache_ttl", a.Users.CacheTTL, 0, 0)
	for i, u := range a.Users.Static {
		key := "auth.users.static." + strconv.Itoa(i)
		if u.Username == "" {
			v.bad(key+".username", "required")
		}
		if !strings.HasPrefix(u.PasswordHash, "$2") {
			v.bad(key+".password_hash", "must be a bcrypt hash ($2a$…); iothub users hash prints one")
		}
		v.clientIDs(key+".client_ids", u.ClientIDs)
	}
	v.clientIDs("auth.users.client_ids", a.Users.ClientIDs)
	v.clientIDs("auth.cert.client_ids", a.Cert.ClientIDs)
	if seen["jwt"] {
		a.JWT.validate(v)
	}
	if seen["http"] {
		a.HTTP.validate(v)
	}
	v.oneOf("auth.acl.default", a.ACL.Default, "allow", "deny")
	v.file("auth.acl.file", a.ACL.File, false)
	for i, r := range a.ACL.Rules {
		r.validate(v, "auth.acl.rules."+strconv.Itoa(i))
	}
	a.Ban.validate(v)
	if t := a.Throttle; t.Enabled {
		v.atLeast("auth.throttle.username_failures", t.UsernameFailures, 1)
		v.atLeast("auth.throttle.address_failures", t.AddressFailures, 1)
		v.duration("auth.throttle.username_every", t.UsernameEvery, time.Millisecond, 0)
		v.duration("auth.throttle.address_every", t.AddressEvery, time.Millisecond, 0)
		v.duration("auth.throttle.familiar_for", t.FamiliarFor, 0, 0)
	}
	listeners := map[string]bool{}
	for _, l := range c.Listeners.TCP {
		listeners[l.Name] = true
	}
	for _, l := range c.Listeners.WS {
		listeners[l.Name] = true
	}
	for _, l := range c.Listeners.TLS {
		listeners[l.Name] = true
	}
	for _, l := range c.Listeners.WSS {
		listeners[l.Name] = true
	}
	c.Limits.validate(v, listeners)
}

func (j *AuthJWT) validate(v *checker) {
	n := 0
	for _, s := range []string{j.Secret, j.PublicKeyFile, j.JWKSFile} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		v.bad("auth.jwt", "set exactly one of secret, public_key_file and jwks_file")
	}
	v.file("auth.jwt.public_key_file", j.PublicKeyFile, false)
	v.file("auth.jwt.jwks_file", j.JWKSFile, false)
	v.duration("auth.jwt.leeway", j.Leeway, 0, time.Hour)
}

func (h *AuthHTTP) validate(v *checker) {
	u, err := url.Parse(h.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.bad("auth.http.url", "%q is not an http(s) URL", h.URL)
	}
	v.duration("auth.http.timeout", h.Timeout, time.Millisecond, 0)
	v.duration("auth.http.request_timeout", h.RequestTimeout, h.Timeout.D(), 0)
	v.between("auth.http.pool_size", h.PoolSize, 1, 10_000)
	v.duration("auth.http.cache_ttl", h.CacheTTL, 0, 0)
	v.oneOf("auth.http.on_error", h.OnError, "deny", "allow", "ignore")
}

func (r *ACLRule) validate(v *checker, key string) {
	v.oneOf(key+".permission", r.Permission, "allow", "deny")
	v.oneOf(key+".action", r.Action, "publish", "subscribe", "all")
	n := 0
	for _, set := range []bool{r.Who.ClientID != "", r.Who.Username != "", r.Who.Address != "", r.Who.All} {
		if set {
			n++
		}
	}
	if n != 1 {
		v.bad(key+".who", "set exactly one of client_id, username, address and all")
	}
	if r.Who.Address != "" && !isAddrOrPrefix(r.Who.Address) {
		v.bad(key+".who.address", "%q is neither an IP address nor a CIDR", r.Who.Address)
	}
	if len(r.Topics) == 0 {
		v.bad(key+".topics", "at least one topic filter")
	}
	for i, t := range r.Topics {
		if t == "" {
			v.bad(key+".topics."+strconv.Itoa(i), "empty topic filter")
		}
	}
}

func isAddrOrPrefix(s string) bool {
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

func (b *Ban) validate(v *checker) {
	v.atLeast("auth.ban.max_failures", b.MaxFailures, 0)
	if b.MaxFailures > 0 {
		v.duration("auth.ban.window", b.Window, time.Second, 0)
		v.duration("auth.ban.ban_for", b.BanFor, time.Second, 0)
	}
	for i, s := range b.Static {
		key := "auth.ban.static." + strconv.Itoa(i)
		v.oneOf(key+".kind", s.Kind, "client_id", "username", "address")
		if s.Value == "" {
			v.bad(key+".value", "required")
		} else if s.Kind == "address" && !isAddrOrPrefix(s.Value) {
			v.bad(key+".value", "%q is neither an IP address nor a CIDR", s.Value)
		}
	}
}

func (l *Limits) validate(v *checker, listeners map[string]bool) {
	cl := &l.Client
	for _, f := range []struct {
		key string
		n   int
	}{
		{"limits.client.publish_rate", cl.PublishRate}, {"limits.client.publish_burst", cl.PublishBurst},
		{"limits.client.publish_bytes_rate", cl.PublishBytesRate}, {"limits.client.publish_bytes_burst", cl.PublishBytesBurst},
	} {
		v.atLeast(f.key, f.n, 0)
	}
	names := map[string]bool{}
	for i, ll := range l.Listeners {
		key := "limits.listeners." + strconv.Itoa(i)
		if ll.Name == "" {
			v.bad(key+".name", "required")
		} else if names[ll.Name] {
			v.bad(key+".name", "duplicate listener %q", ll.Name)
		} else if !listeners[ll.Name] {
			v.bad(key+".name", "no listener is named %q", ll.Name)
		}
		names[ll.Name] = true
		v.atLeast(key+".connection_rate", ll.ConnectionRate, 0)
		v.atLeast(key+".connection_burst", ll.ConnectionBurst, 0)
		v.atLeast(key+".publish_rate", ll.PublishRate, 0)
		v.atLeast(key+".publish_bytes_rate", ll.PublishBytesRate, 0)
	}
}

// clientIDs checks a list of client id patterns (auth.ClientIDPatterns).
func (v *checker) clientIDs(key string, patterns []string) {
	for i, p := range patterns {
		if err := auth.ClientIDPatterns([]string{p}).Validate(); err != nil {
			v.bad(key+"."+strconv.Itoa(i), "%v", err)
		}
	}
}
