package httpauth

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
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
	// Timeout is how long a connecting device waits for the answer,
	// waiting for a free slot included (0: 5s).
	Timeout time.Duration
	// RequestTimeout bounds one request to the service, which keeps its
	// slot and connection after the device stopped waiting (0: one minute;
	// raised to Timeout when below it).
	RequestTimeout time.Duration
	// PoolSize is the number of slots: requests in flight, and connections
	// open to the service at once (0: 16).
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
	// TLSConfig is the TLS client configuration for an https URL (nil:
	// the system's roots, TLS 1.2 or later).
	TLSConfig *tls.Config
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
	// ClientIDs, when present, are the client ids the service admits for
	// this user (auth.ClientIDPatterns; %u is the username).
	ClientIDs []string `json:"client_ids"`
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
	opts Options
	sem  chan struct{} // one token per slot in use

	smu    sync.Mutex
	free   []*slot // a stack: the most recently used connection goes first
	closed bool

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
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = time.Minute
	}
	opts.RequestTimeout = max(opts.RequestTimeout, opts.Timeout)
	if opts.PoolSize <= 0 {
		opts.PoolSize = 16
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = 30 * time.Second
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 100_000
	}
	a := &Authenticator{opts: opts, cache: map[cacheKey]entry{}, sem: make(chan struct{}, opts.PoolSize)}
	for range opts.PoolSize {
		a.free = append(a.free, newSlot(u, opts.TLSConfig))
	}
	return a, nil
}

// Close closes idle connections to the service; requests still in flight
// close theirs when they end.
func (a *Authenticator) Close() {
	a.smu.Lock()
	defer a.smu.Unlock()
	a.closed = true
	for _, sl := range a.free {
		sl.close()
	}
}

// acquire takes a free slot, waiting at most until ctx ends.
func (a *Authenticator) acquire(ctx context.Context) (*slot, error) {
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("no free connection to the service: %w", ctx.Err())
	}
	a.smu.Lock()
	defer a.smu.Unlock()
	sl := a.free[len(a.free)-1]
	a.free = a.free[:len(a.free)-1]
	return sl, nil
}

// release gives sl back (its connection stays open for the next request,
// unless the Authenticator was closed).
func (a *Authenticator) release(sl *slot) {
	a.smu.Lock()
	a.free = append(a.free, sl)
	if a.closed {
		sl.close()
	}
	a.smu.Unlock()
	<-a.sem
}

// Authenticate implements auth.Authenticator.
func (a *Authenticator) Authenticate(ctx context.Context, ci *auth.ConnectInfo) auth.Result {
	key := cacheKey{clientID: ci.ClientID, username: ci.Username, ip: ci.IP().String(), password: sha256.Sum256(ci.Password)}
	if r, ok := a.cached(key); ok {
		return a.withIdentity(r, ci)
	}
	return a.withIdentity(a.ask(ctx, key, ci), ci)
}

// withIdentity gives an Allow result its own identity for ci (the cached
// one describes an earlier connection).
func (a *Authenticator) withIdentity(r auth.Result, ci *auth.ConnectInfo) auth.Result {
	if r.Decision != auth.Allow || r.Identity == nil {
		return r
	}
	id := auth.NewIdentity(ci, "http")
	id.Superuser, id.Rules, id.Principal = r.Identity.Superuser, r.Identity.Rules, ci.Username
	r.Identity = id
	return r
}

// answered is the outcome of one request to the service.
type answered struct {
	r         auth.Result
	cacheable bool // false for service failures
}

// ask calls the service through a slot and waits for the answer at most
// Timeout (and ctx). The request itself runs on its own goroutine bounded
// by RequestTimeout, holding its slot, and caches its answer even when the
// device stopped waiting (see the package documentation).
func (a *Authenticator) ask(ctx context.Context, key cacheKey, ci *auth.ConnectInfo) auth.Result {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	sl, err := a.acquire(ctx)
	if err != nil {
		return a.failed(err)
	}
	req := request{
		ClientID: ci.ClientID, Username: ci.Username, Password: string(ci.Password),
		PeerAddr: ci.RemoteAddr, PeerIP: ci.IP().String(), Protocol: "mqtt", ProtoVer: ci.ProtoVer, Listener: ci.Listener,
	}
	done := make(chan answered, 1)
	go func() {
		defer a.release(sl)
		// Not the device's deadline: the request outlives it (see above).
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.RequestTimeout)
		defer rcancel()
		r, cacheable := a.post(rctx, sl, &req)
		if cacheable {
			a.store(key, r)
		}
		done <- answered{r, cacheable}
	}()
	select {
	case ans := <-done:
		return ans.r
	case <-ctx.Done():
		return a.failed(fmt.Errorf("no answer from the service: %w", ctx.Err()))
	}
}

// post asks the service over sl; cacheable is false for service
// failures.
func (a *Authenticator) post(ctx context.Context, sl *slot, req *request) (auth.Result, bool) {
	body, err := json.Marshal(req) //nolint:gosec // the password goes to the authentication service: that is the protocol
	if err != nil {
		return a.failed(err), false
	}
	status, data, err := sl.post(ctx, body)
	switch {
	case err != nil:
		return a.failed(err), false
	case status >= 500:
		return a.failed(errors.New("status " + strconv.Itoa(status))), false
	case status == http.StatusNoContent:
		return auth.Allowed(&auth.Identity{}), true
	case status != http.StatusOK:
		return auth.Denied(packet.NotAuthorized, "http auth: status "+strconv.Itoa(status)), true
	}
	return a.decode(data, req)
}

// decode reads a 200 answer to req. An allow whose client_ids do not
// admit req's client id is a denial (Client Identifier not valid).
func (a *Authenticator) decode(data []byte, req *request) (auth.Result, bool) {
	var ans answer
	if err := json.Unmarshal(data, &ans); err != nil {
		return a.failed(fmt.Errorf("answer: %w", err)), false
	}
	switch ans.Result {
	case "allow":
		id := &auth.Identity{Superuser: ans.IsSuperuser}
		var rules []auth.Rule
		for _, s := range ans.ACL {
			r, err := auth.ParseRule(s)
			if err != nil {
				return a.failed(fmt.Errorf("answer acl: %w", err)), false
			}
			rules = append(rules, r)
		}
		if rules != nil {
			id.Rules = &rules
		}
		patterns := auth.ClientIDPatterns(ans.ClientIDs)
		if err := patterns.Validate(); err != nil {
			return a.failed(fmt.Errorf("answer client_ids: %w", err)), false
		}
		id.ClientID, id.Principal = req.ClientID, req.Username
		if r, ok := auth.CheckClientID(patterns, id, "http"); !ok {
			return r, true
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
