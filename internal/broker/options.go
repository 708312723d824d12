package broker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/storage"
	"github.com/jonboulle/clockwork"
)

// QueueFullPolicy says what happens to a QoS 1/2 message when a session's
// queue is full (QoS 0 messages in the queue are always dropped first).
type QueueFullPolicy string

// The queue-full policies.
const (
	// DropOldest drops the oldest queued message to make room (EMQX's
	// default, and ours: devices care most about the latest commands).
	DropOldest QueueFullPolicy = "drop_oldest"
	// DropNew refuses the new message.
	DropNew QueueFullPolicy = "drop_new"
)

// SharedStrategy picks the member of a shared-subscription group that
// receives a message.
type SharedStrategy string

// The shared-subscription strategies.
const (
	RoundRobin SharedStrategy = "round_robin"
	Random     SharedStrategy = "random"
)

// Options configures a Server. Zero fields take the value from Defaults; see
// docs/mqtt.md for each limit and its config key.
type Options struct {
	// NodeName names this hub in $SYS topics and events.
	NodeName string
	// MaxConnections caps concurrent network connections (0: no cap).
	MaxConnections int
	// MaxPacketSize is the largest packet accepted from a client, in bytes;
	// also announced to v5 clients as Maximum Packet Size.
	MaxPacketSize int
	// MaxInflight is the outbound window of unacknowledged QoS 1/2 messages
	// per session (lowered to the client's Receive Maximum), and the
	// Receive Maximum announced to v5 clients for inbound QoS 2.
	MaxInflight int
	// MaxQueuedMessages bounds the per-session queue of messages waiting for
	// the window or for an offline client to come back, in memory: with a
	// store and MaxBacklogBytes, an offline persistent session's queue is
	// on disk and bounded by MaxBacklogBytes instead (queue_disk.go).
	MaxQueuedMessages int
	// QueueFullPolicy applies when the queue is full; see QueueFullPolicy.
	QueueFullPolicy QueueFullPolicy
	// MaxQueuedBytes bounds the per-session queue in bytes (topic, payload
	// and a per-message overhead); negative: no byte bound.
	MaxQueuedBytes int64
	// MaxBacklogBytes bounds the queue of a persistent session whose queue
	// lives in the store (offline, or connected while its backlog is paged
	// in), in bytes as MaxQueuedBytes counts them; full → QueueFullPolicy.
	// Negative: no disk backlog (offline queues stay in memory, bounded by
	// MaxQueuedMessages and MaxQueuedBytes). Without a store it is unused.
	MaxBacklogBytes int64
	// MaxPendingWrites bounds the packets waiting to be written to one
	// connection; QoS 0 messages beyond it are dropped and counted.
	MaxPendingWrites int
	// MaxPendingWriteBytes bounds the QoS 0 bytes waiting to be written to
	// one connection, like MaxPendingWrites; negative: no byte bound.
	MaxPendingWriteBytes int64
	// MaxBufferedBytes is the global budget for what the hub holds for
	// messages on their way: session queues, pending writes and inbound
	// packets larger than a read buffer. Over it publishers wait (up to
	// BackpressureTimeout), new connections are refused, queues take a
	// message only in place of another, and a connection starting a large
	// packet is closed. Zero: a quarter of the machine's memory; negative:
	// no budget. See budget.go.
	MaxBufferedBytes int64
	// MaxConnectingBytes bounds, across all connections, the bytes of
	// CONNECT packets larger than a read buffer that are still arriving:
	// what clients not yet authenticated hold. A connection whose CONNECT
	// finds it spent is closed. Zero: 64 MiB; negative: no bound of its
	// own (MaxBufferedBytes still counts them).
	MaxConnectingBytes int64
	// BackpressureTimeout is the longest a client's message waits for room
	// in a connected subscriber's full queue (or in the memory budget)
	// before the queue policy drops anything; the publisher is not read
	// meanwhile. Negative: never wait (drop at once). See backpressure.go.
	BackpressureTimeout time.Duration
	// BackpressureQueue, when positive and under MaxQueuedMessages, is the
	// queue length at which a connected, not stalled subscriber makes its
	// publishers wait for room as if its queue were full; what they still
	// send once stalled goes to the queue up to its limits. It keeps a live
	// subscriber's latency bounded by this many messages rather than by a
	// queue sized for offline sessions. Zero: the queue's limits only.
	BackpressureQueue int
	// MaxTopicLevels and MaxTopicLength bound topic names and filters.
	MaxTopicLevels int
	MaxTopicLength int
	// MaxSubscriptionsPerClient caps one session's subscriptions (0: no cap).
	MaxSubscriptionsPerClient int
	// ConnectTimeout closes a connection that sends no CONNECT in time.
	ConnectTimeout time.Duration
	// MaxKeepAlive, when non-zero, caps the keep alive a client may ask for;
	// v5 clients asking for more (or for 0) are told Server Keep Alive.
	MaxKeepAlive time.Duration
	// MaxSessionExpiry caps how long an offline persistent session is kept
	// (3.1.1 clean_session=0 sessions get exactly this; 0: no cap).
	MaxSessionExpiry time.Duration
	// TopicAliasMaximum is the number of topic aliases a v5 client may use
	// toward the hub (0 disables inbound aliases).
	TopicAliasMaximum int
	// SharedStrategy picks among shared-subscription members.
	SharedStrategy SharedStrategy
	// WriteTimeout closes a connection whose socket accepts no bytes for
	// this long.
	WriteTimeout time.Duration
	// WriteCoalesce is the window within which writes to one plain TCP
	// connection are gathered into one: a connection written to less than
	// this long ago waits up to this long for more (write_coalesce.go).
	// 0: every packet is written at once.
	WriteCoalesce time.Duration
	// ParkIdleAfter is how long a TCP or TLS client may send nothing before
	// its connection is parked in the poller and holds no goroutine until
	// bytes arrive (see park.go); negative: never park. Parking costs two
	// epoll_ctl calls and a goroutine start per idle period.
	ParkIdleAfter time.Duration
	// KeepParkedSockets keeps a parked connection's net.Conn. By default
	// a parked one gives its socket back to Go's runtime and
	// keeps only its descriptor (~870 bytes less per idle connection; a
	// wake costs about ten more system calls: park_release.go).
	KeepParkedSockets bool
	// SysInterval is how often $SYS topics are published (0: never).
	SysInterval time.Duration
	// ExpirySweepInterval is how often queued messages whose message expiry
	// passed are removed from sessions' queues (and the store) while their
	// clients stay away (0: only when sent, or at start-up).
	ExpirySweepInterval time.Duration
	// RetainAvailable enables retained messages.
	RetainAvailable bool
	// MaxRetained caps the number of retained messages (0: no cap).
	MaxRetained int
	// EventBuffer is the per-listener event queue length.
	EventBuffer int
	// EventBlockTimeout is how long an event about a QoS 1/2 message waits
	// for room in a full listener queue before it is dropped and counted;
	// meanwhile the publisher's connection is not read (back-pressure).
	EventBlockTimeout time.Duration
	// Logger receives the broker's logs; nil means slog.Default().
	Logger *slog.Logger
	// Clock is the time of message expiry (receive stamps, the sweep, the
	// interval left on delivery), session expiry and will delays; nil means
	// the real clock. Tests inject clockwork.NewFakeClock() and advance it
	// instead of sleeping.
	Clock clockwork.Clock
	// Metrics receives delivery latencies (nil: not measured).
	Metrics Metrics
	// Authenticator decides who may connect (nil: everyone); see
	// auth.AuthnChain. A refusal is answered with its reason code (3.1.1:
	// 4 for bad credentials, 5 otherwise). SetAuth replaces it.
	Authenticator auth.Authenticator
	// Authorizer decides who may publish and subscribe where (nil:
	// everything is allowed); its answers are cached per connection.
	Authorizer auth.Authorizer
	// DisconnectOnDeny closes a connection after a refused PUBLISH (v5:
	// DISCONNECT Not authorized).
	DisconnectOnDeny bool
	// AllowSessionTakeover lets any client resume or take over the
	// session of its client id. By default (false) a session belongs to
	// the identity that created it (auth.Identity.Owner): a client with
	// another identity is refused with Not authorized (0x87; 3.1.1: 5),
	// logged and counted (Stats.SessionTakeoversRefused).
	AllowSessionTakeover bool
	// RateLimits limit publish and connection rates (zero: no limit).
	RateLimits RateLimits
	// Store keeps persistent sessions, their queues and the retained
	// messages across restarts (nil: in memory only). New loads it; the
	// caller closes it after Shutdown. See docs/persistence.md.
	Store storage.Store
	// Durability says when a store write counts as done (default fsync).
	Durability Durability
}

// Defaults returns the options iothub runs with when nothing is configured.
func Defaults() Options {
	return Options{
		NodeName:                  "iothub@127.0.0.1",
		MaxConnections:            0,
		MaxPacketSize:             1 << 20,
		MaxInflight:               32,
		MaxQueuedMessages:         1000,
		QueueFullPolicy:           DropOldest,
		MaxPendingWrites:          1024,
		MaxQueuedBytes:            16 << 20,
		MaxBacklogBytes:           1 << 30,
		MaxPendingWriteBytes:      4 << 20,
		MaxBufferedBytes:          defaultBufferedBytes(),
		MaxConnectingBytes:        64 << 20,
		BackpressureTimeout:       2 * time.Second,
		MaxTopicLevels:            128,
		MaxTopicLength:            65535,
		MaxSubscriptionsPerClient: 0,
		ConnectTimeout:            10 * time.Second,
		MaxKeepAlive:              0,
		MaxSessionExpiry:          7 * 24 * time.Hour,
		TopicAliasMaximum:         65535,
		SharedStrategy:            RoundRobin,
		WriteTimeout:              30 * time.Second,
		WriteCoalesce:             100 * time.Microsecond,
		ParkIdleAfter:             time.Second,
		SysInterval:               10 * time.Second,
		ExpirySweepInterval:       time.Minute,
		RetainAvailable:           true,
		MaxRetained:               0,
		EventBuffer:               8192,
		EventBlockTimeout:         5 * time.Second,
	}
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	switch {
	case o.MaxPacketSize < 16 || o.MaxPacketSize > 268_435_460:
		return fmt.Errorf("max_packet_size %d: must be between 16 and 268435460", o.MaxPacketSize)
	case o.MaxInflight < 1 || o.MaxInflight > 65535:
		return fmt.Errorf("max_inflight %d: must be between 1 and 65535", o.MaxInflight)
	case o.MaxQueuedMessages < 1:
		return fmt.Errorf("max_queued_messages %d: must be at least 1", o.MaxQueuedMessages)
	case o.QueueFullPolicy != DropOldest && o.QueueFullPolicy != DropNew:
		return fmt.Errorf("queue_full_policy %q: must be drop_oldest or drop_new", o.QueueFullPolicy)
	case o.MaxPendingWrites < 1:
		return fmt.Errorf("max_pending_writes %d: must be at least 1", o.MaxPendingWrites)
	case o.MaxTopicLevels < 1 || o.MaxTopicLength < 1 || o.MaxTopicLength > 65535:
		return fmt.Errorf("max_topic_levels %d / max_topic_length %d: must be positive, length at most 65535", o.MaxTopicLevels, o.MaxTopicLength)
	case o.SharedStrategy != RoundRobin && o.SharedStrategy != Random:
		return fmt.Errorf("shared_subscription_strategy %q: must be round_robin or random", o.SharedStrategy)
	case o.ConnectTimeout <= 0 || o.WriteTimeout <= 0:
		return fmt.Errorf("connect_timeout and write_timeout must be positive")
	case o.TopicAliasMaximum < 0 || o.TopicAliasMaximum > 65535:
		return fmt.Errorf("topic_alias_maximum %d: must be between 0 and 65535", o.TopicAliasMaximum)
	case o.MaxConnections < 0 || o.MaxSubscriptionsPerClient < 0 || o.MaxRetained < 0:
		return fmt.Errorf("max_connections, max_subscriptions_per_client and max_retained must not be negative")
	case o.EventBuffer < 1:
		return fmt.Errorf("event_buffer %d: must be at least 1", o.EventBuffer)
	case o.Durability != "" && o.Durability != DurabilityFsync && o.Durability != DurabilityOS:
		return fmt.Errorf("durability %q: must be fsync or os", o.Durability)
	}
	return nil
}
