// Package broker is iothub's MQTT 3.1.1 and 5.0 broker core: connections,
// sessions, QoS flows, retained messages, wills, shared subscriptions and
// the event bus the rule engine listens on.
//
// # Lifecycle
//
// New builds a Server from Options; Serve accepts on a net.Listener (any
// number, each in its own goroutine); ServeConn serves one accepted
// connection (WebSocket); ServeListener and ServeConnWith do the same with
// the listener's own limits (ListenerOptions, counted per listener name),
// which SetListenerLimits, like SetLimits for the global ones, changes at
// run time; Publish injects messages from inside the hub;
// AddEventHandler registers an event listener; Shutdown stops everything.
//
// # Goroutines
//
// Each connection has one read-loop goroutine, parked in Read while idle,
// holding no buffer (a pooled 4 KiB buffer is taken while bytes arrive). The
// writer goroutine exists only while the connection's outbound queue is
// non-empty: enqueue starts it, it drains the queue in batches (one write
// system call per batch) and exits. Deliveries happen on the publisher's
// goroutine: routing puts the message into each subscriber's session under
// the session lock, which preserves the order of one publisher's messages
// per subscriber, and never blocks on a subscriber's socket.
//
// # Bounds
//
// QoS 1/2 deliveries beyond a session's inflight window wait in the session
// queue (MaxQueuedMessages; full → QueueFullPolicy, counted). QoS 0
// deliveries beyond MaxPendingWrites on a connection are dropped and counted.
// Event listeners each have a bounded queue; drops are counted.
//
// # Lock order
//
// Server.mu → Session.mu → conn.outMu. The trie and retained index have
// their own locks, taken last and never held while calling out. Event
// handlers are never called with a broker lock held (they run on their own
// goroutines).
//
// # Persistence
//
// With Options.Store (or OpenStore) persistent sessions, their queued and
// in-flight QoS 1/2 messages, inbound QoS 2 packet ids and the retained
// messages are kept in the store and recovered by New (persist*.go,
// docs/persistence.md). One committer goroutine group-commits the writes of
// all connections; acknowledgements that promise durability are sent from
// its callbacks, in order. persister.mu is taken last, after conn.outMu.
// Without a store everything stays in memory.
package broker
