// Package cluster makes several iothub nodes one service. Every node embeds
// a NATS server (github.com/nats-io/nats-server/v2): the routes between
// them carry live messages, and JetStream holds the state that must outlive
// a node (the session registry and the retained messages), replicated.
//
// # Shape
//
// The package has a deterministic core and a transport driver (STYLE.md
// 6.6), like etcd raft's RawNode and Node:
//
//   - Core (core.go) is the membership and routing state machine. It is fed
//     events (a node's heartbeat, an interest change, a snapshot) through
//     Step and the clock through Tick, does no I/O and returns what the
//     driver must do (ask a node for its interest, adopt a lost node's
//     sessions). Its tests are datadriven scripts in testdata/.
//   - Node (node.go) owns the embedded NATS server, the in-process client
//     connections, the goroutines and the clock; it feeds the Core and
//     implements the small interface the broker declares (broker.Cluster),
//     so the broker never imports NATS.
//
// # Routing
//
// Each node subscribes, on its in-process connection, to the NATS subjects
// of its local MQTT filters (SubjectsOf; the topic ↔ subject encoding of
// subject.go is reversible and fuzzed). A message that enters a node is
// delivered to its local sessions by the broker and published once on the
// subject of its topic (SubjectOf): NATS sends it only to nodes with a
// matching subscription, once per node over the route, in order. Shared
// subscriptions are NATS queue subscriptions, so one node of a group gets
// each message and gives it to one local member. A QoS 1/2 message is
// acknowledged to its publisher only once every node that the Core knows
// to have interest has stored it (the forward acknowledgement, forward.go).
//
// # Concurrency
//
// Core is not safe for concurrent use; Node guards it with its mutex, which
// is taken last and never held while calling the broker.
package cluster
