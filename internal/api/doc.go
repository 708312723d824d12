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
// # Concurrency
//
// Handlers run on net/http's goroutines and hold no lock of their own; a
// command waits on its own channel from the broker (no shared state). A
// KeyStore is safe for concurrent use.
package api
