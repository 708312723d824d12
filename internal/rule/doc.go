// Package rule is iothub's rule engine: a small SQL dialect over the
// messages and events of the broker (docs/rules.md is the reference).
//
//	SELECT clientid, payload.battery AS battery
//	FROM "devices/+/state" WHERE payload.battery < 20
//
// # Layout
//
// It follows raft's RawNode/Node split:
//
//   - lexer.go, parser.go, expr.go, ast.go: a hand-written recursive-descent
//     parser; every refusal is a *SQLError with line:col.
//   - compile.go, funcs*.go, fields.go, value.go, ops.go, program.go: the
//     compiler turns a statement into a tree of closures with every name
//     resolved once; evaluation uses no reflection and reuses pooled
//     scratch space.
//   - engine.go: Engine, the pure core. It holds compiled rules and does
//     Eval(event) → []Output synchronously, deterministically (the clock is
//     injected), without I/O.
//   - runner.go, manage.go, store.go, action.go, republish.go: Runner, the
//     driver. It receives broker events (HandleEvent, registered with
//     (*broker.Server).AddEventHandler), queues them to worker goroutines,
//     runs the actions on the outputs, samples rates, and manages rules
//     for the HTTP API, keeping API rules in <data_dir>/rules.json.
//   - template.go: ${path} templates for actions.
//
// # Lifecycle
//
// NewRunner → AddConfigRule (the rules of the config file) → Start (loads
// rules.json, starts the workers) → HandleEvent … → Close (drains the
// queues, bounded by a context, and closes the actions).
//
// # Concurrency
//
// Engine methods are safe for concurrent use: Eval reads an immutable
// snapshot of the rules (copy-on-write behind an atomic pointer) and never
// waits for writers. Runner management methods are serialised by one
// mutex; workers read the actions through an atomic pointer. Events of one
// publisher go to one worker, so outputs keep the publisher's order.
// HandleEvent never blocks the broker beyond its own event queue: see
// HandleEvent for the full-queue policy.
//
// # Extending
//
// Actions are built by factories registered by type name in a Registry
// (republish and log are built in); a bridge registers its own factory,
// which receives the raw action spec and returns an Action.
package rule
