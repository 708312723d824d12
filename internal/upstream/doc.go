// Package upstream makes a hub an edge of a central hub, and a hub the
// centre of edges (docs/edge.md).
//
// # Edge
//
// An Edge owns one MQTT 5 link to the centre (Link: paho.golang over TCP,
// TLS, WebSocket or secure WebSocket; a username and password, a JWT read
// at each connection, or a client certificate) and one or more streams.
// A stream is a durable queue of the shared bridge engine (bridge.Runner
// with a disk queue in data_dir/upstream/<stream>/) whose sink publishes
// over the link at QoS 1, several messages in flight and in order, and
// reports a batch done only when the centre acknowledged every message
// (PUBACK). Messages reach a stream from the forward filters (the
// broker's published events, handled inline on the publisher's goroutine,
// so before its PUBACK) or from the rule action {type: upstream}. Each
// record carries the edge's name (PropOrigin) and "<epoch>:<n>"
// (PropSeq), numbered as queued; the epoch is new at every start of the
// stream, so numbers never repeat within one. Streams have a priority (a
// stream waits while one of higher priority has a backlog), a TTL, and
// share a rate and a bandwidth limit.
//
// What comes down from the centre (the subscriptions of
// upstream.subscribe) is published locally with origin upstream and is
// never forwarded up again; the link subscribes with No Local. Command
// requests (CommandTopic) are relayed to the device with the local
// broker's SendToClient and answered on the request's response topic.
//
// # Centre
//
// Dedup drops resends before routing (a broker.Deduplicator, and a
// broker.Syncer that keeps its marks in a file); Relay publishes command
// requests for devices the centre has no session for and collects the
// edges' replies (a broker.TopicHandler on ReplyPrefix).
//
// # Concurrency
//
// Every exported method is safe for concurrent use. The link calls the
// edge's receive on paho's goroutine, one message at a time; a command
// is followed on its own goroutine (at most maxCommands at once).
package upstream
