package broker

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// DropReason says why a message was not delivered to a subscriber.
type DropReason uint8

// Reasons a message is dropped; each has its own counter.
const (
	DropQueueFull DropReason = iota
	DropQoS0Offline
	DropWriteQueueFull
	DropExpired
	DropTooLarge
	DropNoLocal // not counted as a drop by MQTT, kept for completeness
	// DropSessionEnded: the session was discarded (Clean Start, expiry, a
	// clean session's end) with the message still queued or unacknowledged.
	DropSessionEnded
	// DropMemoryLimit: the global memory budget (max_buffered_bytes) was
	// spent, so a queued message made room for a newer one (or, drop_new,
	// the newer one was refused).
	DropMemoryLimit
	// DropNotAuthorized: the subscriber may no longer read the topic (a
	// queued message of a session resumed by a client the ACL does not
	// let read it, or a command on such a topic).
	DropNotAuthorized
	dropReasons
)

var dropNames = [dropReasons]string{"queue_full", "qos0_offline", "write_queue_full", "expired", "packet_too_large", "no_local", "session_ended", "memory_limit", "not_authorized"}

// logLevel is the level at which drops for r are logged (rate-limited):
// drops for want of room warn; the others (a session that ended, an expired
// message, QoS 0 for an offline client) are expected and informative.
func (r DropReason) logLevel() slog.Level {
	switch r {
	case DropQueueFull, DropWriteQueueFull, DropTooLarge, DropMemoryLimit:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// String returns the reason in snake_case, as used in events and metrics.
func (r DropReason) String() string {
	if r < dropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// counters are the broker's running totals, updated with atomics on the hot
// path; Stats takes a snapshot.
type counters struct {
	connections    atomic.Int64
	parked         atomic.Int64
	released       atomic.Int64
	goneReleased   atomic.Int64 // released sockets found closed by their peer on wake (never attached)
	deferredWrites atomic.Int64 // writes of hot connections left to a timer (write_coalesce.go)
	connectsTotal  atomic.Uint64
	sessions       atomic.Int64
	subscriptions  atomic.Int64
	messagesIn     atomic.Uint64
	messagesOut    atomic.Uint64
	bytesIn        atomic.Uint64
	bytesOut       atomic.Uint64
	inflight       atomic.Int64
	queued         atomic.Int64
	// queuedDisk and queuedDiskBytes count the queued messages held only
	// in the store (queue_disk.go), included in queued.
	queuedDisk, queuedDiskBytes atomic.Int64
	dropped                     [dropReasons]atomic.Uint64
	eventsDropped               atomic.Uint64
	malformedPackets            atomic.Uint64
	protocolErrors              atomic.Uint64

	// By QoS (index 0-2): PUBLISH messages and their payload bytes.
	messagesInQoS  [3]atomic.Uint64
	messagesOutQoS [3]atomic.Uint64
	payloadInQoS   [3]atomic.Uint64
	payloadOutQoS  [3]atomic.Uint64
	byVersion      [3]atomic.Int64 // connected clients by protocol version (versionIndex)
	connectsByVer  [3]atomic.Uint64
	byListener     labelCounters // open connections by listener
	listenerTotal  labelCounters // connections accepted by listener
	disconnects    labelCounters // closed connections by cause
	connackRefused labelCounters // refused CONNECTs by reason code
	authSucceeded  atomic.Uint64 // incremented by authentication
	authFailed     atomic.Uint64 // incremented by authentication
	authFailedBy   labelCounters // failed authentications by reason (auth.go)
	// Authorization and rate limits (auth.go, ratelimit.go).
	authzDeniedPublish    atomic.Uint64
	authzDeniedSubscribe  atomic.Uint64
	authzDeniedRead       atomic.Uint64
	sessionOwnerRefused   atomic.Uint64
	publishRateLimited    atomic.Uint64
	connectionRateLimited atomic.Uint64
	// Back-pressure and memory budgets (backpressure.go, budget.go).
	backpressureWaits    atomic.Uint64
	backpressureTimeouts atomic.Uint64
	budgetRefused        atomic.Uint64
	// clusterAckFailed counts publishes whose acknowledgement was withheld
	// because other nodes did not store the message in time (cluster.go).
	clusterAckFailed atomic.Uint64
	// clusterTakenIn and clusterTakenAway count sessions that moved to
	// this node from another one, and away (cluster_session.go).
	clusterTakenIn, clusterTakenAway atomic.Uint64
	// clusterAdopted counts sessions adopted from a lost node.
	clusterAdopted atomic.Uint64
}

// Stats is a snapshot of the broker's counters.
type Stats struct {
	Uptime      time.Duration
	Connections int64
	// ParkedConnections counts idle connections that hold no goroutine
	// (parked in the poller).
	ParkedConnections int64
	// ReleasedSockets counts parked connections (TCP, TLS, WebSocket) that gave their
	// socket back to Go's runtime and keep only its descriptor
	// (park_release.go).
	ReleasedSockets int64
	ConnectsTotal   uint64
	Sessions        int64
	Subscriptions   int64
	Retained        int
	MessagesIn      uint64
	MessagesOut     uint64
	BytesIn         uint64
	BytesOut        uint64
	Inflight        int64
	Queued          int64
	// QueuedOnDisk and QueuedOnDiskBytes are the queued messages (of
	// Queued) held only in the store, the backlogs of offline persistent
	// sessions, and their size.
	QueuedOnDisk, QueuedOnDiskBytes int64
	Dropped                         map[string]uint64
	EventsDropped                   uint64
	MalformedPackets                uint64
	ProtocolErrors                  uint64
	// ClusterAckFailures counts connections closed without the PUBACK or
	// PUBREC of a message other nodes did not store in time (the client
	// sends it again).
	ClusterAckFailures uint64
	// SessionsTakenIn and SessionsTakenAway count sessions taken over
	// from another node, and by another node.
	SessionsTakenIn, SessionsTakenAway uint64
	// SessionsAdopted counts sessions adopted from a lost node.
	SessionsAdopted uint64

	// MessagesInByQoS and MessagesOutByQoS split MessagesIn/Out by QoS;
	// PayloadBytesIn/OutByQoS are the PUBLISH payload bytes by QoS.
	MessagesInByQoS      [3]uint64
	MessagesOutByQoS     [3]uint64
	PayloadBytesInByQoS  [3]uint64
	PayloadBytesOutByQoS [3]uint64
	// ConnectedByVersion counts connected clients by protocol version
	// ("3.1", "3.1.1", "5.0"); ConnectsByVersion the accepted CONNECTs.
	ConnectedByVersion map[string]int64
	ConnectsByVersion  map[string]uint64
	// ConnectionsByListener counts open connections by listener name;
	// ConnectionsTotalByListener those accepted since start.
	ConnectionsByListener      map[string]int64
	ConnectionsTotalByListener map[string]int64
	// Disconnects counts closed connections by cause (normal, closed,
	// keepalive_timeout, takenover, protocol_error, …).
	Disconnects map[string]int64
	// ConnectsRefused counts refused CONNECTs by CONNACK reason code name.
	ConnectsRefused map[string]int64
	// AuthSucceeded and AuthFailed count authentication outcomes.
	AuthSucceeded uint64
	AuthFailed    uint64
	// AuthFailedByReason splits AuthFailed by the refusal's reason code
	// in snake_case (bad_user_name_or_password, not_authorized, banned,
	// server_unavailable, …).
	AuthFailedByReason map[string]int64
	// AuthzDeniedPublish and AuthzDeniedSubscribe count PUBLISH packets
	// (wills included) and subscription filters the authorizer refused.
	AuthzDeniedPublish   uint64
	AuthzDeniedSubscribe uint64
	// AuthzDeniedRead counts messages not delivered through a wildcard
	// subscription because the subscriber may not read their topic.
	AuthzDeniedRead uint64
	// SessionTakeoversRefused counts CONNECTs refused because the session
	// of their client id belongs to another identity.
	SessionTakeoversRefused uint64
	// PublishRateLimited counts PUBLISH packets over a rate limit (v5
	// QoS 1/2 refused with Quota exceeded, the others delayed);
	// ConnectionRateLimited counts connections delayed by a listener's
	// connection rate.
	PublishRateLimited    uint64
	ConnectionRateLimited uint64
	// BackpressureWaits counts the times a publisher waited for room in a
	// subscriber's queue or in the memory budget; BackpressureTimeouts
	// those that waited the whole bound (the queue policy then applied).
	BackpressureWaits    uint64
	BackpressureTimeouts uint64
	// BufferedBytes is what the hub holds for messages on their way
	// (session queues, pending writes, large inbound packets), counted
	// against BufferedBytesLimit (mqtt.max_buffered_bytes; 0: none);
	// BudgetRefused counts connections and packets refused for it.
	BufferedBytes      int64
	BufferedBytesLimit int64
	BudgetRefused      uint64
}

// Stats returns a snapshot of the broker's counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	st := Stats{
		Uptime:            time.Since(s.started),
		Connections:       c.connections.Load(),
		ParkedConnections: c.parked.Load(),
		ReleasedSockets:   c.released.Load(),
		ConnectsTotal:     c.connectsTotal.Load(),
		Sessions:          c.sessions.Load(),
		Subscriptions:     c.subscriptions.Load(),
		Retained:          s.retained.Len(),
		MessagesIn:        c.messagesIn.Load(),
		MessagesOut:       c.messagesOut.Load(),
		BytesIn:           c.bytesIn.Load(),
		BytesOut:          c.bytesOut.Load(),
		Inflight:          c.inflight.Load(),
		Queued:            c.queued.Load(),
		QueuedOnDisk:      c.queuedDisk.Load(),
		QueuedOnDiskBytes: c.queuedDiskBytes.Load(),
		Dropped:           make(map[string]uint64, dropReasons),
		EventsDropped:     c.eventsDropped.Load(),
		MalformedPackets:  c.malformedPackets.Load(),
		ProtocolErrors:    c.protocolErrors.Load(),

		ClusterAckFailures: c.clusterAckFailed.Load(),
		SessionsTakenIn:    c.clusterTakenIn.Load(),
		SessionsTakenAway:  c.clusterTakenAway.Load(),
		SessionsAdopted:    c.clusterAdopted.Load(),
	}
	for r := DropReason(0); r < dropReasons; r++ {
		st.Dropped[r.String()] = c.dropped[r].Load()
	}
	c.fillDetail(&st)
	st.BufferedBytes, st.BufferedBytesLimit = s.mem.used.Load(), s.mem.limit
	return st
}

// fillDetail copies the labelled and per-QoS counters into st.
func (c *counters) fillDetail(st *Stats) {
	for q := range 3 {
		st.MessagesInByQoS[q] = c.messagesInQoS[q].Load()
		st.MessagesOutByQoS[q] = c.messagesOutQoS[q].Load()
		st.PayloadBytesInByQoS[q] = c.payloadInQoS[q].Load()
		st.PayloadBytesOutByQoS[q] = c.payloadOutQoS[q].Load()
	}
	st.ConnectedByVersion = make(map[string]int64, len(protocolVersions))
	st.ConnectsByVersion = make(map[string]uint64, len(protocolVersions))
	for i, v := range protocolVersions {
		st.ConnectedByVersion[v] = c.byVersion[i].Load()
		st.ConnectsByVersion[v] = c.connectsByVer[i].Load()
	}
	st.ConnectionsByListener = c.byListener.snapshot()
	st.ConnectionsTotalByListener = c.listenerTotal.snapshot()
	st.Disconnects = c.disconnects.snapshot()
	st.ConnectsRefused = c.connackRefused.snapshot()
	st.AuthSucceeded = c.authSucceeded.Load()
	st.AuthFailed = c.authFailed.Load()
	st.AuthFailedByReason = c.authFailedBy.snapshot()
	st.AuthzDeniedPublish = c.authzDeniedPublish.Load()
	st.AuthzDeniedSubscribe = c.authzDeniedSubscribe.Load()
	st.AuthzDeniedRead = c.authzDeniedRead.Load()
	st.SessionTakeoversRefused = c.sessionOwnerRefused.Load()
	st.PublishRateLimited = c.publishRateLimited.Load()
	st.ConnectionRateLimited = c.connectionRateLimited.Load()
	st.BackpressureWaits = c.backpressureWaits.Load()
	st.BackpressureTimeouts = c.backpressureTimeouts.Load()
	st.BudgetRefused = c.budgetRefused.Load()
}
