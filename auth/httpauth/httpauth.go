// Package httpauth is the HTTP authentication service client: for each
// connecting device it POSTs the client id, username, password, peer
// address and protocol as JSON to a configured URL and lets the answer
// decide.
//
// # Connections
//
// One source system ran out of ports (TIME_WAIT) because every device
// connect opened a new HTTP connection. Here all requests share one
// keep-alive pool of at most PoolSize connections (http.Transport
// MaxConnsPerHost and MaxIdleConnsPerHost): requests beyond it wait for a
// free connection, so a reconnect storm of 10,000 devices opens at most
// PoolSize connections to the service. Answers are cached for CacheTTL,
// keyed by client id, username, a hash of the password and the peer's IP
// (not its port, which changes on every reconnect).
//
// # Protocol
//
// Request: POST, Content-Type application/json:
//
//	{"client_id":"lock-1","username":"u","password":"p","peer_addr":"192.0.2.7:50122",
//	 "peer_ip":"192.0.2.7","protocol":"mqtt","proto_ver":5,"listener":"tcp"}
//
// Answer: status 200 with {"result":"allow"|"deny"|"ignore",
// "is_superuser":false,"acl":["allow publish devices/%c/state"]} (acl:
// optional rules in the one-line form), or 204 (allow). Any other 2xx or
// 4xx status is a denial; a 5xx status, a timeout or an unreadable answer
// gets OnError (deny by default).
//
// An Authenticator is safe for concurrent use; Close releases idle
// connections.
package httpauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// Options configures an Authenticator.
type Options struct {
	// URL is the service endpoint (http or https).
	URL string
	// Timeout bounds one request, waiting for a connection included
	// (0: 5s).
	Timeout time.Duration
	// PoolSize is the most connections opened to the service (0: 16).
	PoolSize int
	// CacheTTL is how long an answer is remembered (0: 30s; negative: no
	// cache).
	CacheTTL time.Duration
	// CacheSize bounds the cached answers (0: 100,000).
	CacheSize int
	// OnError answers when the service fails (5xx, timeout, bad answer):
	// "deny" (also ""; reason code Server unavailable), "allow", or
	// "ignore" (the next authenticator decides).
	OnError string
	// Transport replaces the HTTP transport (tests); nil builds the
	// bounded one described in the package documentation.
	Transport http.RoundTripper
}

// request is the JSON body sent to the service.
type request struct {
	ClientID string `json:"client_id"`
	Username string `json:"username"`
	Password string `json:"password"`
	PeerAddr string `json:"peer_addr"`
	PeerIP   string `json:"peer_ip"`
	Protocol string `json:"protocol"`
	ProtoVer byte   `json:"proto_ver"`
	Listener string `json:"listener"`
}

// answer is the JSON body the service returns.
type answer struct {
	Result      string   `json:"result"`
	IsSuperuser bool     `json:"is_superuser"`
	ACL         []string `json:"acl"`
}

type cacheKey struct {
	clientID, username, ip string
	password               [sha256.Size]byte
}

type entry struct {
	result auth.Result
	until  time.Time
}

// Authenticator asks the HTTP service; see the package documentation.
type Authenticator struct {
	opts   Options
	client *http.Client
	tr     *http.Transport // nil when Options.Transport was given

	mu    sync.Mutex
	cache map[cacheKey]entry
}

// New checks opts and builds the pooled client.
func New(opts Options) (*Authenticator, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("httpauth: url %q: want http(s)://host/path", opts.URL)
	}
	if opts.OnError != "" && opts.OnError != "deny" && opts.OnError != "allow" && opts.OnError != "ignore" {
		return nil, fmt.Errorf("httpauth: on_error %q: want deny, allow or ignore", opts.OnError)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 16
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = 30 * time.Second
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 100_000
	}
	a := &Authenticator{opts: opts, cache: map[cacheKey]entry{}}
	rt := opts.Transport
	if rt == nil {
		a.tr = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxConnsPerHost:     opts.PoolSize,
			MaxIdleConns:        opts.PoolSize,
			MaxIdleConnsPerHost: opts.PoolSize,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		}
		rt = a.tr
	}
	a.client = &http.Client{Transport: rt, Timeout: opts.Timeout}
	return a, nil
}

// Close closes idle connections to the service.
func (a *Authenticator) Close() {
	if a.tr != nil {
		a.tr.CloseIdleConnections()
	}
}

// Authenticate implements auth.Authenticator.
func (a *Authenticator) Authenticate(ctx context.Context, ci *auth.ConnectInfo) auth.Result {
	key := cacheKey{clientID: ci.ClientID, username: ci.Username, ip: ci.IP().String(), password: sha256.Sum256(ci.Password)}
	if r, ok := a.cached(key); ok {
		return a.withIdentity(r, ci)
	}
	r, cacheable := a.ask(ctx, ci)
	if cacheable {
		a.store(key, r)
	}
	return a.withIdentity(r, ci)
}

// withIdentity gives an Allow result its own identity for ci (the cached
// one describes an earlier connection).
func (a *Authenticator) withIdentity(r auth.Result, ci *auth.ConnectInfo) auth.Result {
	if r.Decision != auth.Allow || r.Identity == nil {
		return r
	}
	id := auth.NewIdentity(ci, "http")
	id.Superuser, id.Rules = r.Identity.Superuser, r.Identity.Rules
	r.Identity = id
	return r
}

// ask calls the service; cacheable is false for service failures.
func (a *Authenticator) ask(ctx context.Context, ci *auth.ConnectInfo) (auth.Result, bool) {
	body, _ := json.Marshal(request{
		ClientID: ci.ClientID, Username: ci.Username, Password: string(ci.Password),
		PeerAddr: ci.RemoteAddr, PeerIP: ci.IP().String(), Protocol: "mqtt", ProtoVer: ci.ProtoVer, Listener: ci.Listener,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.opts.URL, bytes.NewReader(body))
	if err != nil {
		return a.failed(err), false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return a.failed(err), false
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	switch {
	case err != nil:
		return a.failed(err), false
	case resp.StatusCode >= 500:
		return a.failed(errors.New("status " + strconv.Itoa(resp.StatusCode))), false
	case resp.StatusCode == http.StatusNoContent:
		return auth.Allowed(&auth.Identity{}), true
	case resp.StatusCode != http.StatusOK:
		return auth.Denied(packet.NotAuthorized, "http auth: status "+strconv.Itoa(resp.StatusCode)), true
	}
	return a.decode(data)
}

// decode reads a 200 answer.
func (a *Authenticator) decode(data []byte) (auth.Result, bool) {
	var ans answer
	if err := json.Unmarshal(data, &ans); err != nil {
		return a.failed(fmt.Errorf("answer: %w", err)), false
	}
	switch ans.Result {
	case "allow":
		id := &auth.Identity{Superuser: ans.IsSuperuser}
		for _, s := range ans.ACL {
			r, err := auth.ParseRule(s)
			if err != nil {
				return a.failed(fmt.Errorf("answer acl: %w", err)), false
			}
			id.Rules = append(id.Rules, r)
		}
		return auth.Allowed(id), true
	case "deny":
		return auth.Denied(packet.BadUsernameOrPassword, "http auth: denied"), true
	case "ignore":
		return auth.Pass, true
	}
	return a.failed(fmt.Errorf("answer: result %q is not allow, deny or ignore", ans.Result)), false
}

// failed returns the OnError answer.
func (a *Authenticator) failed(err error) auth.Result {
	switch a.opts.OnError {
	case "allow":
		return auth.Allowed(&auth.Identity{})
	case "ignore":
		return auth.Pass
	}
	return auth.Denied(packet.ServerUnavailable, "http auth service failed: "+err.Error())
}

func (a *Authenticator) cached(key cacheKey) (auth.Result, bool) {
	if a.opts.CacheTTL < 0 {
		return auth.Result{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.cache[key]
	if !ok || time.Now().After(e.until) {
		return auth.Result{}, false
	}
	return e.result, true
}

func (a *Authenticator) store(key cacheKey, r auth.Result) {
	if a.opts.CacheTTL < 0 {
		return
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= a.opts.CacheSize {
		for k, e := range a.cache {
			if now.After(e.until) {
				delete(a.cache, k)
			}
		}
		for k := range a.cache { // still full: forget arbitrary entries
			if len(a.cache) < a.opts.CacheSize*9/10 {
				break
			}
			delete(a.cache, k)
		}
	}
	a.cache[key] = entry{result: r, until: now.Add(a.opts.CacheTTL)}
}

var _ auth.Authenticator = (*Authenticator)(nil)
