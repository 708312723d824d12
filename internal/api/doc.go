// Package api is iothub's HTTP API under /api/v1 (docs/http-api.md): publish,
// device commands with delivery confirmation, request/response (RPC),
// clients, subscriptions, retained messages and node information, rules
// (docs/rules.md), bans and users (docs/security.md), plus GET /ready.
// The OpenAPI 3 document, openapi.json in this directory, is embedded and
// served at /api/v1/openapi.json.
//
// # Shape
//
// Handlers return error; one renderer (writeError) turns an *Error
// {Status, Code, Message, Field, Err} into the JSON body {"code",
// "message", "field"}, and anything else into a 500 whose details go to
// the log only (Caddy's AdminHandler/APIError pattern). Codes are stable
// and listed in codes.go. Bodies are decoded strictly (unknown fields are
// refused, the bad field is named) and bounded by Options.MaxBodyBytes.
//
// # Dependencies
//
// The package reaches the broker only through the small interfaces it
// declares (Publisher, Commander, ClientManager, RetainedStore, NodeInfo),
// which *broker.Server implements; internal/app wires them. Rules, bans
// and users likewise go through RuleManager (*rule.Runner), BanManager
// (*auth.BanList) and UserManager (*users.Store), reached through
// functions of Options called per request. It uses the
// broker package's value types (ClientInfo, Outcome, …) and nothing else.
//
// # Lifecycle
//
// New builds the API; Register adds its routes to a ServeMux (the app's
// HTTP listener); RequireKey wraps that mux's handler so that /api/v1/…
// (and /metrics when asked) need "Authorization: Bearer <key>". Keys live
// in a KeyStore (<data_dir>/apikeys.json, SHA-256 hashed).
//
// # The web dashboard's sign-in
//
// With Options.Operators set, POST /api/v1/auth/login signs a dashboard
// user in (login.go): an HttpOnly, SameSite=Strict session cookie, kept
// hashed in memory, and a per-session CSRF token that every POST, PUT,
// PATCH and DELETE made with the cookie must carry in X-CSRF-Token.
// RequireKey accepts a key or such a session, so the dashboard
// (internal/dashboard) can do exactly what a key can. RunHistory samples
// the counters behind GET /api/v1/node/history; the live message stream
// and the topic tree observe the message flow through the broker's Tap.
//
// # Concurrency
//
// Handlers run on net/http's goroutines; a command waits on its own
// channel from the broker. The session table, the history ring and the
// topic counters have their own mutexes (taken briefly, never while
// calling out); topic counting runs on publishing goroutines while the
// tree is being looked at. A KeyStore is safe for concurrent use.
package api
