// Package app wires iothub together: configuration → components, the order
// in which they start and stop, reload, and the command line behind
// cmd/iothub. It is where a newcomer starts reading; every other package is
// a component it builds from the typed config and connects through the
// small interfaces those packages declare.
//
// # Files
//
// app.go holds the order below; each component has a file of its own with
// its setup, start and stop (storage.go, devices.go, bridges.go, rules.go,
// api.go, http.go, websocket.go, tls.go, auth.go, metrics.go), reload.go
// applies SIGHUP and API reloads, and cli.go with the *cmd.go files is the
// command line (`iothub serve`, `config`, `users`, `apikey`, `bench`, …).
//
// # Start order (New, then Start)
//
//  1. New builds without opening a port: metrics, bans and the
//     authentication chain, the broker (broker.New), the HTTP routes, the
//     API keys, the bridge manager and the rule runner.
//  2. Start loads the embedded store first, so that persistent sessions,
//     queues and retained messages are back before anything can publish.
//  3. Then the components that publish into the broker or consume its
//     events: device services, bridges (their durable queues recovered),
//     rules (subscribed to the broker's events). A message accepted once
//     the listeners are open therefore always finds its rules and bridges.
//  4. Then the listeners that let devices in: MQTT over TCP, WebSocket,
//     TLS/WSS; the HTTP API last, whose readiness (/health/ready) turns
//     true when everything above is up.
//
// A failure at any step closes what was opened and returns the error; the
// process exits non-zero with the error in its log.
//
// # Shutdown order (Shutdown, on SIGTERM/SIGINT)
//
// The reverse: readiness false, then the broker stops accepting and
// disconnects clients (v5 clients get DISCONNECT 0x8B; wills are not
// published), the listeners close, then rules, bridges (their memory
// queues written to disk), device services, and last the store, so that
// everything a component still writes on its way out reaches disk. The
// context bounds the whole shutdown.
package app
