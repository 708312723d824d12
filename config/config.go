package config

import (
	"strconv"
	"time"
)

// Config is the whole iothub configuration. The yaml tags are the key names
// of the file; the key path of a field (for errors, Set, Diff and the
// IOTHUB_ environment variables) joins them with dots, for example
// "mqtt.max_inflight" or "listeners.tcp.0.address".
type Config struct {
	// Node identifies this hub.
	Node Node `yaml:"node"`
	// DataDir holds the embedded store.
	DataDir string `yaml:"data_dir"`
	// Log configures the logger.
	Log Log `yaml:"log"`
	// Listeners are the network endpoints devices connect to.
	Listeners Listeners `yaml:"listeners"`
	// API configures the HTTP API.
	API API `yaml:"api"`
	// MQTT holds the protocol limits and behaviour of the broker.
	MQTT MQTT `yaml:"mqtt"`
	// Metrics configures the Prometheus endpoint /metrics.
	Metrics Metrics `yaml:"metrics"`
	// Storage configures the embedded store (storage.go).
	Storage Storage `yaml:"storage"`
	// Auth configures authentication, authorization and bans (auth.go).
	Auth Auth `yaml:"auth"`
	// Limits configures publish and connection rate limits (auth.go).
	Limits Limits `yaml:"limits"`
	// Rules configures the rule engine and the rules of this file (rules.go).
	Rules Rules `yaml:"rules"`
	// Bridges are the bridges of this file (bridges.go).
	Bridges []Bridge `yaml:"bridges"`
	// Devices configures the registry, shadows and jobs (devices.go).
	Devices Devices `yaml:"devices"`
	// Cluster joins this hub to other nodes (cluster.go).
	Cluster Cluster `yaml:"cluster"`
	// Upstream makes this hub an edge of a central hub (upstream.go).
	Upstream Upstream `yaml:"upstream"`
	// Edges configures what this hub does as the centre of edges (upstream.go).
	Edges Edges `yaml:"edges"`

	// Warnings are what Load accepted but the caller should tell the
	// operator: deprecated keys and variables (ErrDeprecated), each a
	// *KeyError with where it came from. They are not settings.
	Warnings []*KeyError `yaml:"-"`
}

// Node identifies this hub in $SYS topics, events and bridge records.
type Node struct {
	// Name is the node name, "name@host" by convention.
	Name string `yaml:"name"`
}

// Log configures the logger.
type Log struct {
	// Level is one of debug, info, warn, error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Listeners groups the listeners by transport. Each list may be empty; a
// listener's name is unique across all lists, and so is its address (except
// port 0, which asks the kernel for a free port).
type Listeners struct {
	// TCP listeners serve plain MQTT.
	TCP []TCPListener `yaml:"tcp"`
	// WS listeners serve MQTT over WebSocket.
	WS []WSListener `yaml:"ws"`
	// TLS listeners serve MQTT over TLS.
	TLS []TLSListener `yaml:"tls"`
	// WSS listeners serve MQTT over WebSocket over TLS.
	WSS []WSSListener `yaml:"wss"`
}

// TCPListener is a plain MQTT listener.
type TCPListener struct {
	// Name identifies the listener in logs and metrics.
	Name string `yaml:"name"`
	// Address is the host:port to listen on.
	Address string `yaml:"address"`
	// MaxConnections caps this listener's connections (0: no cap here).
	MaxConnections int `yaml:"max_connections"`
	// MaxPacketSize overrides mqtt.max_packet_size (0: use it).
	MaxPacketSize int `yaml:"max_packet_size"`
	// ProxyProtocol expects a PROXY protocol (v1 or v2) header first.
	ProxyProtocol bool `yaml:"proxy_protocol"`
}

// WSListener is an MQTT-over-WebSocket listener.
type WSListener struct {
	// Name identifies the listener in logs and metrics.
	Name string `yaml:"name"`
	// Address is the host:port to listen on.
	Address string `yaml:"address"`
	// Path is the HTTP path of the WebSocket endpoint; it starts with "/".
	Path string `yaml:"path"`
	// AllowedOrigins lists the accepted Origin headers (empty: any).
	AllowedOrigins []string `yaml:"allowed_origins"`
	// TrustedProxies lists the IPs or CIDRs whose X-Forwarded-For header
	// is believed (empty: none).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxConnections caps this listener's connections (0: no cap here).
	MaxConnections int `yaml:"max_connections"`
	// MaxPacketSize overrides mqtt.max_packet_size (0: use it).
	MaxPacketSize int `yaml:"max_packet_size"`
}

// TLSListener is an MQTT-over-TLS listener.
type TLSListener struct {
	// Name identifies the listener in logs and metrics.
	Name string `yaml:"name"`
	// Address is the host:port to listen on.
	Address string `yaml:"address"`
	// CertFile is the PEM certificate chain of the server (required).
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of the server (required).
	KeyFile string `yaml:"key_file"`
	// CAFile is the PEM bundle that verifies client certificates.
	CAFile string `yaml:"ca_file"`
	// ClientAuth is none, request (verify a certificate if one is sent) or
	// require; request and require need CAFile.
	ClientAuth string `yaml:"client_auth"`
	// MinVersion is the lowest TLS version accepted, "1.2" or "1.3".
	MinVersion string `yaml:"min_version"`
	// IdentityFrom takes the client identity from the verified client
	// certificate: none, cn (subject common name) or san (first DNS SAN).
	IdentityFrom string `yaml:"identity_from"`
	// IdentityAs says what that identity becomes: username or client_id.
	IdentityAs string `yaml:"identity_as"`
	// MaxConnections caps this listener's connections (0: no cap here).
	MaxConnections int `yaml:"max_connections"`
	// MaxPacketSize overrides mqtt.max_packet_size (0: use it).
	MaxPacketSize int `yaml:"max_packet_size"`
	// ProxyProtocol expects a PROXY protocol (v1 or v2) header first.
	ProxyProtocol bool `yaml:"proxy_protocol"`
}

// WSSListener is an MQTT-over-WebSocket-over-TLS listener: a TLS listener
// with the WebSocket settings.
type WSSListener struct {
	// TLSListener holds the address, certificate and limits.
	TLSListener `yaml:",inline"`
	// Path is the HTTP path of the WebSocket endpoint; it starts with "/".
	Path string `yaml:"path"`
	// AllowedOrigins lists the accepted Origin headers (empty: any).
	AllowedOrigins []string `yaml:"allowed_origins"`
	// TrustedProxies lists the IPs or CIDRs whose X-Forwarded-For header
	// is believed (empty: none).
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// MQTT holds the broker's protocol limits. Zero means "no cap" only where
// the field says so.
type MQTT struct {
	// MaxConnections caps all connections of the hub (0: no cap).
	MaxConnections int `yaml:"max_connections"`
	// MaxPacketSize is the largest packet accepted, in bytes.
	MaxPacketSize int `yaml:"max_packet_size"`
	// MaxInflight is the window of unacknowledged QoS 1/2 messages per session.
	MaxInflight int `yaml:"max_inflight"`
	// MaxQueuedMessages bounds each session's queue.
	MaxQueuedMessages int `yaml:"max_queued_messages"`
	// QueueFullPolicy is drop_oldest or drop_new.
	QueueFullPolicy string `yaml:"queue_full_policy"`
	// MaxPendingWrites bounds the packets waiting to be written to a connection.
	MaxPendingWrites int `yaml:"max_pending_writes"`
	// MaxQueuedBytes bounds each session's queue in bytes (0: no byte bound).
	MaxQueuedBytes int `yaml:"max_queued_bytes"`
	// MaxBacklogBytes bounds the queue of an offline persistent session,
	// kept on disk in the store, in bytes (0: no disk backlog, offline
	// queues stay in memory under max_queued_messages and max_queued_bytes).
	MaxBacklogBytes int `yaml:"max_backlog_bytes"`
	// MaxPendingWriteBytes bounds the QoS 0 bytes waiting to be written to
	// a connection (0: no byte bound).
	MaxPendingWriteBytes int `yaml:"max_pending_write_bytes"`
	// MaxBufferedBytes is the hub's budget for messages on their way:
	// session queues, pending writes, large inbound packets (0: a quarter
	// of the machine's memory; -1: no budget).
	MaxBufferedBytes int `yaml:"max_buffered_bytes"`
	// MaxConnectingBytes bounds the bytes of CONNECT packets still arriving
	// beyond a read buffer, across all connections that have not
	// authenticated yet (0: 64 MiB; -1: only max_buffered_bytes).
	MaxConnectingBytes int `yaml:"max_connecting_bytes"`
	// BackpressureTimeout is the longest a client's message waits for room
	// in a connected subscriber's full queue before the queue policy drops
	// (0: never wait).
	BackpressureTimeout Duration `yaml:"backpressure_timeout"`
	// BackpressureQueue is the queue length at which a connected
	// subscriber that keeps up its acknowledgements slows its publishers,
	// although its queue may hold more (0: only the queue's limits).
	BackpressureQueue int `yaml:"backpressure_queue"`
	// MaxTopicLevels bounds the levels of a topic name or filter.
	MaxTopicLevels int `yaml:"max_topic_levels"`
	// MaxTopicLength bounds the length of a topic name or filter, in bytes.
	MaxTopicLength int `yaml:"max_topic_length"`
	// MaxSubscriptionsPerClient caps one session's subscriptions (0: no cap).
	MaxSubscriptionsPerClient int `yaml:"max_subscriptions_per_client"`
	// ConnectTimeout closes a connection that sends no CONNECT in time.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// MaxKeepAlive caps the keep alive a client may ask for (0: no cap).
	MaxKeepAlive Duration `yaml:"max_keepalive"`
	// MaxSessionExpiry caps how long an offline session is kept (0: no cap).
	MaxSessionExpiry Duration `yaml:"max_session_expiry"`
	// TopicAliasMaximum is the number of topic aliases a v5 client may use.
	TopicAliasMaximum int `yaml:"topic_alias_maximum"`
	// SharedSubscriptionStrategy is round_robin or random.
	SharedSubscriptionStrategy string `yaml:"shared_subscription_strategy"`
	// WriteTimeout closes a connection whose socket accepts no bytes this long.
	WriteTimeout Duration `yaml:"write_timeout"`
	// WriteCoalesce gathers the writes to a busy TCP connection into one per
	// window: a packet for a connection written to less than this long ago
	// waits up to this long for others (0: every packet is written at once).
	WriteCoalesce Duration `yaml:"write_coalesce"`
	// ParkIdleAfter is how long a TCP or TLS client may send nothing before
	// its connection holds no goroutine until bytes arrive (0: never).
	ParkIdleAfter Duration `yaml:"park_idle_after"`
	// ReleaseParkedSockets lets a parked connection give its socket back
	// to Go's runtime, keeping only the descriptor.
	ReleaseParkedSockets bool `yaml:"release_parked_sockets"`
	// SysInterval is how often $SYS topics are published (0: never).
	SysInterval Duration `yaml:"sys_interval"`
	// ExpirySweepInterval is how often expired messages are removed from
	// offline sessions' queues (0: only when sent, or at start-up).
	ExpirySweepInterval Duration `yaml:"expiry_sweep_interval"`
	// RetainAvailable enables retained messages.
	RetainAvailable bool `yaml:"retain_available"`
	// MaxRetained caps the number of retained messages (0: no cap).
	MaxRetained int `yaml:"max_retained"`
	// EventBuffer is the length of the broker's event queue.
	EventBuffer int `yaml:"event_buffer"`
	// EventBlockTimeout is how long an event about a QoS 1/2 message waits
	// for room in a full event queue (back-pressure) before it is dropped.
	EventBlockTimeout Duration `yaml:"event_block_timeout"`
	// AllowAnonymous accepts connections without credentials.
	AllowAnonymous bool `yaml:"allow_anonymous"`
}

// Defaults returns the configuration iothub runs with when nothing is
// configured: MQTT on :1883, WebSocket on :8083/mqtt, the API on :18083,
// data in ./data, anonymous clients allowed.
func Defaults() Config {
	tcp := DefaultTCPListener()
	tcp.Name = "tcp"
	ws := DefaultWSListener()
	ws.Name = "ws"
	return Config{
		Node:      Node{Name: "iothub@127.0.0.1"},
		DataDir:   "./data",
		Log:       Log{Level: "info", Format: "text"},
		Listeners: Listeners{TCP: []TCPListener{tcp}, WS: []WSListener{ws}},
		API:       defaultAPI(),
		Metrics:   defaultMetrics(),
		Storage:   defaultStorage(),
		Cluster:   defaultCluster(),
		Auth:      defaultAuth(),
		Rules:     defaultRules(),
		Devices:   defaultDevices(),
		Upstream:  defaultUpstream(),
		Edges:     defaultEdges(),
		MQTT: MQTT{
			MaxPacketSize:              1 << 20,
			MaxInflight:                32,
			MaxQueuedMessages:          1000,
			QueueFullPolicy:            "drop_oldest",
			MaxPendingWrites:           1024,
			MaxQueuedBytes:             16 << 20,
			MaxBacklogBytes:            1 << 30,
			MaxPendingWriteBytes:       4 << 20,
			BackpressureTimeout:        Duration(2 * time.Second),
			BackpressureQueue:          1000,
			MaxTopicLevels:             128,
			MaxTopicLength:             65535,
			ConnectTimeout:             Duration(10 * time.Second),
			MaxSessionExpiry:           Duration(168 * time.Hour),
			TopicAliasMaximum:          65535,
			SharedSubscriptionStrategy: "round_robin",
			WriteTimeout:               Duration(30 * time.Second),
			WriteCoalesce:              Duration(100 * time.Microsecond),
			ParkIdleAfter:              Duration(time.Second),
			ReleaseParkedSockets:       true,
			SysInterval:                Duration(10 * time.Second),
			ExpirySweepInterval:        Duration(time.Minute),
			RetainAvailable:            true,
			EventBuffer:                8192,
			EventBlockTimeout:          Duration(5 * time.Second),
			AllowAnonymous:             true,
		},
	}
}

// DefaultTCPListener returns the settings a new entry of listeners.tcp
// starts from, before the file or environment sets its keys. Its name is
// left empty: an unnamed listener is named after its list ("tcp", "tcp-1").
func DefaultTCPListener() TCPListener { return TCPListener{Address: ":1883"} }

// DefaultWSListener returns the settings a new entry of listeners.ws
// starts from.
func DefaultWSListener() WSListener { return WSListener{Address: ":8083", Path: "/mqtt"} }

// DefaultTLSListener returns the settings a new entry of listeners.tls
// starts from; it still needs cert_file and key_file.
func DefaultTLSListener() TLSListener {
	return TLSListener{Address: ":8883", ClientAuth: "none", MinVersion: "1.2",
		IdentityFrom: "none", IdentityAs: "username"}
}

// DefaultWSSListener returns the settings a new entry of listeners.wss
// starts from; it still needs cert_file and key_file.
func DefaultWSSListener() WSSListener {
	t := DefaultTLSListener()
	t.Address = ":8084"
	return WSSListener{TLSListener: t, Path: "/mqtt"}
}

// nameListeners names each unnamed listener after its list and position.
func (c *Config) nameListeners() {
	name := func(kind string, i int, n *string) {
		if *n == "" {
			*n = kind
			if i > 0 {
				*n = kind + "-" + strconv.Itoa(i)
			}
		}
	}
	for i := range c.Listeners.TCP {
		name("tcp", i, &c.Listeners.TCP[i].Name)
	}
	for i := range c.Listeners.WS {
		name("ws", i, &c.Listeners.WS[i].Name)
	}
	for i := range c.Listeners.TLS {
		name("tls", i, &c.Listeners.TLS[i].Name)
	}
	for i := range c.Listeners.WSS {
		name("wss", i, &c.Listeners.WSS[i].Name)
	}
}
