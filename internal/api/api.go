package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/msg"
)

// Publisher publishes a message into the hub as a device's PUBLISH would
// be routed, and returns the number of sessions it went to.
type Publisher interface {
	Publish(ctx context.Context, m *msg.Message) (int, error)
}

// Commander sends a message to one client's session and reports its
// delivery, and awaits MQTT 5 replies (request/response).
type Commander interface {
	SendToClient(ctx context.Context, clientID string, m *msg.Message) (broker.Outcome, <-chan broker.DeliveryResult, error)
	AwaitReply(responseTopic string, correlation []byte) (<-chan *msg.Message, func())
}

// ClientManager lists, inspects and disconnects clients and manages their
// subscriptions.
type ClientManager interface {
	Clients(q broker.ClientQuery) ([]broker.ClientInfo, bool)
	Client(clientID string) (broker.ClientInfo, bool)
	Kick(clientID string) error
	DiscardSession(clientID string) error
	Subscriptions(q broker.SubscriptionQuery) ([]broker.SubscriptionInfo, bool)
	SubscribeClient(clientID, filter string, o broker.SubscribeOptions) (bool, error)
	UnsubscribeClient(clientID, filter string) error
}

// RetainedStore lists, reads and deletes retained messages.
type RetainedStore interface {
	RetainedMessages(q broker.RetainedQuery) ([]*msg.Message, bool, error)
	Retained(topic string) (*msg.Message, bool)
	DeleteRetained(topic string) bool
}

// Tapper calls a function for every routed message matching a filter
// (the live message view and topic rates); *broker.Server implements it.
type Tapper interface {
	Tap(filter string, fn func(*msg.Message)) (cancel func(), err error)
}

// NodeInfo describes the hub node.
type NodeInfo interface {
	Stats() broker.Stats
	NodeName() string
}

// Broker is everything the API needs from the broker; *broker.Server
// implements it.
type Broker interface {
	Publisher
	Commander
	ClientManager
	RetainedStore
	NodeInfo
	Tracer
	Tapper
}

// KeyChecker tells whether an API key is valid; *KeyStore implements it.
type KeyChecker interface {
	// Check returns the id of the key (for logs) and whether it is valid.
	Check(key string) (id string, ok bool)
}

// KeyRoles tells a key's role; a KeyChecker that implements it can have
// read-only keys (RoleViewer).
type KeyRoles interface {
	Role(id string) string
}

// Options configure the API. Zero durations and sizes take the defaults
// of the api config section.
type Options struct {
	Broker Broker
	// Keys checks the Authorization header of every request RequireKey
	// wraps.
	Keys   KeyChecker
	Logger *slog.Logger
	// MaxBodyBytes caps request bodies.
	MaxBodyBytes int64
	// CommandTopic and RPCResponseTopic are topic templates in which
	// {clientid} is replaced by the device's client id.
	CommandTopic, RPCResponseTopic string
	// CommandTimeout is the wait of a command or RPC call that gives no
	// timeout; MaxCommandTimeout the longest it may ask for.
	CommandTimeout, MaxCommandTimeout time.Duration
	// Version is the hub's version for GET /api/v1/node.
	Version string
	// Ready reports whether the hub's listeners are up (GET /ready); nil:
	// always ready.
	Ready func() bool
	// Rules returns the rule engine (/api/v1/rules); Bans the ban list and
	// Users the user store (/api/v1/bans, /api/v1/users). They are called
	// on every request, so that what a reload swapped is seen; nil, or a
	// nil answer, turns the endpoints off (503; 409 users_disabled).
	Rules func() RuleManager
	Bans  func() BanManager
	Users func() UserManager
	// Schemas returns the schema registry (/api/v1/schemas); nil, or a nil
	// answer, turns its endpoints off (503).
	Schemas func() SchemaManager
	// Shadows returns the Device Shadow service (/api/v1/devices/{id}/shadow);
	// nil, or a nil answer, turns its endpoints off (503 devices_disabled).
	Shadows func() ShadowManager
	// Devices returns the device registry (/api/v1/devices); nil, or a nil
	// answer, turns its endpoints off (503 devices_disabled).
	Devices func() RegistryManager
	// Jobs returns the Jobs service (/api/v1/jobs) and Firmware the OTA
	// firmware store (/api/v1/firmware, /ota/{name}); nil turns them off.
	Jobs     func() JobManager
	Firmware func() FirmwareStore
	// Bridges returns the bridge manager (/api/v1/bridges); nil, or a nil
	// answer, turns its endpoints off (503 not_ready).
	Bridges func() BridgeManager
	// LogLevel returns the level of the hub's logger, which PUT
	// /api/v1/log/level changes; nil, or a nil answer, means the level is
	// fixed (503 unavailable).
	LogLevel func() *slog.LevelVar
	// Cluster returns the document of GET /api/v1/cluster; nil, or a nil
	// answer, means a single node.
	Cluster func() any
	// MaxImportBytes caps a device import body (default 32 MiB).
	MaxImportBytes int64
	// KeyAdmin lists, creates and revokes API keys (/api/v1/apikeys);
	// nil turns those endpoints off.
	KeyAdmin KeyAdmin
	// ACL returns the authorizer in force for POST /api/v1/acl/check;
	// nil, or a nil answer: everything is allowed.
	ACL func() auth.Authorizer
	// Operators are the dashboard's users (sign-in with a session
	// cookie); nil: no sign-in, API keys only.
	Operators Operators
	// SessionIdleTimeout ends a dashboard session unused this long
	// (default 30 minutes).
	SessionIdleTimeout time.Duration
	// Counters adds hub-wide counters to the short history of
	// GET /api/v1/node/history (bridge records sent, say); their rates
	// per second are kept. Called once per history interval.
	Counters func() map[string]uint64
	// HubTopic reports whether a topic starting with '$' belongs to a hub
	// feature that takes publishes on it (nil: none does). Every other
	// '$' topic ($SYS above all) is refused by the publish and command
	// endpoints with 403 reserved_topic.
	HubTopic func(topic string) bool
	// Upstream returns the edge link's and the centre's edge status
	// (/api/v1/upstream); nil, or a nil answer: 503 not_ready.
	Upstream func() UpstreamReporter
	// Relay relays commands for devices with no session here to edge
	// hubs; nil: such a command answers no_session.
	Relay CommandRelay
}

// API is the HTTP API: a set of routes registered on a ServeMux.
type API struct {
	o        Options
	log      *slog.Logger
	started  time.Time
	mux      *http.ServeMux // where Register put the routes, for 405s
	sessions *sessionTable  // dashboard sign-ins (login.go)
	history  *history       // the short metrics history (history.go)
	live     liveState      // live message streams (live.go)
	topics   *topicRates    // topic tree rates (topics.go)
}

// New returns the API with o (zero fields defaulted).
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxImportBytes <= 0 {
		o.MaxImportBytes = 32 << 20
	}
	if o.CommandTopic == "" {
		o.CommandTopic = "devices/{clientid}/command"
	}
	if o.RPCResponseTopic == "" {
		o.RPCResponseTopic = "devices/{clientid}/reply"
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 10 * time.Second
	}
	if o.MaxCommandTimeout < o.CommandTimeout {
		o.MaxCommandTimeout = max(o.CommandTimeout, 5*time.Minute)
	}
	if o.SessionIdleTimeout <= 0 {
		o.SessionIdleTimeout = 30 * time.Minute
	}
	return &API{o: o, log: o.Logger.With("component", "api"), started: time.Now(),
		sessions: newSessionTable(o.SessionIdleTimeout), history: newHistory(historyLen), topics: newTopicRates()}
}

// handlerFunc is an API handler: it writes a success response itself and
// returns an error for writeError to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one endpoint: a ServeMux pattern and its handler.
type route struct {
	pattern string
	h       handlerFunc
}

// Routes returns the patterns of every endpoint Register adds, in the
// ServeMux syntax ("POST /api/v1/publish"). The OpenAPI test checks them
// against openapi.json both ways.
func (a *API) Routes() []string {
	rs := a.routes()
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.pattern
	}
	return out
}

func (a *API) routes() []route {
	rs := []route{
		{"GET /api/v1/openapi.json", a.openAPI},
		{"POST /api/v1/publish", a.publish},
		{"POST /api/v1/publish/batch", a.publishBatch},
		{"POST /api/v1/devices/{clientid}/commands", a.command},
		{"POST /api/v1/devices/{clientid}/rpc", a.rpc},
		{"GET /api/v1/clients", a.listClients},
		{"GET /api/v1/clients/{clientid}", a.getClient},
		{"DELETE /api/v1/clients/{clientid}", a.kickClient},
		{"DELETE /api/v1/clients/{clientid}/session", a.discardSession},
		{"GET /api/v1/clients/{clientid}/subscriptions", a.clientSubscriptions},
		{"POST /api/v1/clients/{clientid}/subscriptions", a.subscribe},
		{"DELETE /api/v1/clients/{clientid}/subscriptions", a.unsubscribe},
		{"GET /api/v1/subscriptions", a.listSubscriptions},
		{"GET /api/v1/retained", a.listRetained},
		{"GET /api/v1/retained/{topic...}", a.getRetained},
		{"DELETE /api/v1/retained/{topic...}", a.deleteRetained},
		{"GET /api/v1/node", a.node},
		{"GET /api/v1/node/stats", a.nodeStats},
		{"GET /api/v1/node/history", a.nodeHistory},
		{"GET /api/v1/messages/stream", a.streamMessages},
		{"GET /api/v1/topics", a.topicTree},
		{"POST /api/v1/acl/check", a.aclCheck},
		{"GET /ready", a.ready},
	}
	rs = append(rs, a.ruleRoutes()...)
	rs = append(rs, a.bridgeRoutes()...)
	rs = append(rs, a.observeRoutes()...)
	rs = append(rs, a.schemaRoutes()...)
	rs = append(rs, route{"GET /api/v1/cluster", a.clusterStatus}) // cluster.go
	rs = append(rs, a.shadowRoutes()...)
	rs = append(rs, a.registryRoutes()...)
	rs = append(rs, a.jobRoutes()...)
	rs = append(rs, a.authRoutes()...)
	rs = append(rs, a.keyRoutes()...)
	rs = append(rs, a.operatorRoutes()...)
	rs = append(rs, a.upstreamRoutes()...)
	return append(rs, a.securityRoutes()...)
}

// Register adds every endpoint to mux, and a catch-all under /api/v1/
// that answers unknown paths with a JSON not_found (or
// method_not_allowed). It does not add authentication: wrap the server's
// handler with RequireKey.
func (a *API) Register(mux *http.ServeMux) {
	a.mux = mux
	for _, r := range a.routes() {
		mux.Handle(r.pattern, a.serve(r.pattern, r.h))
	}
	mux.Handle("/api/v1/", a.serve("", a.notFound))
}

// serve adapts a handlerFunc: it bounds the body (except for the routes
// that bound their own: imports and uploads) and renders errors.
func (a *API) serve(pattern string, h handlerFunc) http.Handler {
	own := ownBodyLimit[pattern]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !own {
			r.Body = http.MaxBytesReader(w, r.Body, a.o.MaxBodyBytes)
		}
		if err := h(w, r); err != nil {
			writeError(w, a.log, r, err)
		}
	})
}

// ownBodyLimit are the routes whose handlers bound the body themselves.
var ownBodyLimit = map[string]bool{
	"POST /api/v1/devices/import": true,
	"PUT /api/v1/firmware/{name}": true,
}

// notFound answers a path under /api/v1/ that no route serves; when the
// path exists for another method it answers 405 with Allow.
func (a *API) notFound(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method || a.mux == nil {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := a.mux.Handler(probe); p != "" && p != "/api/v1/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))
	}
	return errorf(http.StatusNotFound, CodeNotFound, "no endpoint %s %s", r.Method, r.URL.Path)
}

// RequireKey wraps next so that requests under /api/v1/ (and /metrics
// when metrics is true) need a valid API key in "Authorization: Bearer
// <key>", or a dashboard session cookie (with its CSRF token on changes;
// login.go), checked from the headers before anything reads the body; a
// refused request is answered 401 at once and its connection closed.
// Sign-in itself, and everything else (/health, /ready, the dashboard's
// files, /metrics when metrics is false), passes unchecked.
func (a *API) RequireKey(next http.Handler, metrics bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if (strings.HasPrefix(p, "/api/v1/") || p == "/api/v1" || metrics && p == "/metrics") && !isSignIn(r) {
			if err := a.authenticate(r); err != nil {
				refuseUnread(w, func() { writeError(w, a.log, r, err) })
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// isSignIn reports whether r is one of the requests that need no
// credentials: signing in, asking for one's session (it answers 401
// itself) and signing out.
func isSignIn(r *http.Request) bool {
	switch r.URL.Path {
	case "/api/v1/auth/login", "/api/v1/auth/session", "/api/v1/auth/logout":
		return true
	}
	return false
}

// authenticate accepts an API key, or else a dashboard session cookie.
func (a *API) authenticate(r *http.Request) error {
	if r.Header.Get("Authorization") == "" {
		if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
			return a.checkSession(r, c)
		}
	}
	return a.checkKey(r)
}

// refuseUnread answers a request whose body will not be read (write
// writes the answer) and closes its connection at once. Otherwise the
// server would drain up to 256 KiB of the body before answering (without
// Connection: close) or after it (with it): a client whose body never ends
// would wait for its 401, and hold its connection, until the read timeout.
func refuseUnread(w http.ResponseWriter, write func()) {
	w.Header().Set("Connection", "close")
	write()
	// The answer is flushed before the server drains the body; a read
	// deadline in the past ends that drain at once.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

func (a *API) checkKey(r *http.Request) error {
	h := r.Header.Get("Authorization")
	scheme, key, found := strings.Cut(h, " ")
	if h == "" || !found || !strings.EqualFold(scheme, "Bearer") {
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "an API key is required: send Authorization: Bearer <key>")
	}
	if a.o.Keys == nil {
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "invalid or revoked API key")
	}
	id, ok := a.o.Keys.Check(strings.TrimSpace(key))
	if !ok {
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "invalid or revoked API key")
	}
	if roles, ok := a.o.Keys.(KeyRoles); ok && roles.Role(id) == RoleViewer && changes(r) {
		return errorf(http.StatusForbidden, CodeReadOnlyRole, "API key %s is read-only (role viewer)", id)
	}
	return nil
}

// changes reports whether r may change something: anything but GET, HEAD,
// OPTIONS and the POSTs that only test (readOnlyPost).
func changes(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return !(r.Method == http.MethodPost && readOnlyPost[r.URL.Path])
}
