package config

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Bridge types.
const (
	// BridgeKafkaProducer sends rule outputs to Kafka (rules reach it with
	// an action {type: bridge, bridge: <name>}).
	BridgeKafkaProducer = "kafka_producer"
	// BridgeKafkaConsumer publishes Kafka records to MQTT topics.
	BridgeKafkaConsumer = "kafka_consumer"
	// BridgePostgres writes rule outputs as PostgreSQL rows.
	BridgePostgres = "postgres"
	// BridgeMQTT links this hub to another MQTT broker, both ways.
	BridgeMQTT = "mqtt"
	// BridgeRedis writes rule outputs to Redis (PUBLISH, XADD, HSET, SET).
	BridgeRedis = "redis"
	// BridgeWebhook sends each rule output as an HTTP request.
	BridgeWebhook = "webhook"
)

// Bridge is one bridge of the file (docs/bridges.md, docs/kafka.md).
// Bridges created through the HTTP API are kept in data_dir/bridges.json.
// The same structure, in JSON, is what the API takes.
type Bridge struct {
	// Name identifies the bridge: 1 to 64 letters, digits, '_', '-' or '.'.
	Name string `yaml:"name" json:"name"`
	// Type is kafka_producer, kafka_consumer, postgres, mqtt, redis or webhook.
	Type string `yaml:"type" json:"type"`
	// Enabled bridges run; a disabled one keeps its disk queue.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Kafka is how to reach the cluster.
	Kafka KafkaConn `yaml:"kafka" json:"kafka"`
	// Producer maps rule outputs to records (kafka_producer).
	Producer KafkaProducer `yaml:"producer" json:"producer"`
	// Consumer maps records to MQTT messages (kafka_consumer).
	Consumer KafkaConsumer `yaml:"consumer" json:"consumer"`
	// Postgres is the postgres bridge's database and statement.
	Postgres PostgresBridge `yaml:"postgres" json:"postgres"`
	// MQTT is the mqtt bridge's remote broker and topics.
	MQTT MQTTBridge `yaml:"mqtt" json:"mqtt"`
	// Redis is the redis bridge's server and command.
	Redis RedisBridge `yaml:"redis" json:"redis"`
	// Webhook is the webhook bridge's URL and request.
	Webhook WebhookBridge `yaml:"webhook" json:"webhook"`
	// Buffer is the delivery engine's durable queue and memory cache
	// (every bridge that sends: all but kafka_consumer).
	Buffer BridgeBuffer `yaml:"buffer" json:"buffer"`
	// DeadLetter is where records the target refuses for good go
	// (every bridge that sends).
	DeadLetter DeadLetter `yaml:"dead_letter" json:"dead_letter"`
}

// DeadLetter says where a bridge keeps the records its target refuses for
// good (a Kafka topic that does not exist, a record too large, a row the
// database refuses, an HTTP 4xx), so that one bad record neither blocks
// the bridge nor vanishes. The first one set of kafka_topic, mqtt_topic
// and file is used; all empty: such records are dropped (counted).
type DeadLetter struct {
	// File is a JSON-lines file, relative to the bridge's queue directory
	// (data_dir/bridges/<name>/) unless absolute.
	File string `yaml:"file" json:"file"`
	// MaxBytes bounds File; beyond it records are dropped (counted).
	MaxBytes int `yaml:"max_bytes" json:"max_bytes"`
	// MQTTTopic publishes each record into this hub, as a JSON document,
	// on this topic (QoS 1).
	MQTTTopic string `yaml:"mqtt_topic" json:"mqtt_topic"`
	// KafkaTopic produces each record, unchanged, to this Kafka topic,
	// with the error in a header (kafka_producer only).
	KafkaTopic string `yaml:"kafka_topic" json:"kafka_topic"`
}

// KafkaConn is the connection to a Kafka cluster.
type KafkaConn struct {
	// BootstrapServers are host:port addresses of brokers.
	BootstrapServers []string `yaml:"bootstrap_servers" json:"bootstrap_servers"`
	// ClientID is the Kafka client id.
	ClientID string `yaml:"client_id" json:"client_id"`
	// TLS encrypts the connections.
	TLS KafkaTLS `yaml:"tls" json:"tls"`
	// SASL authenticates the client.
	SASL KafkaSASL `yaml:"sasl" json:"sasl"`
	// DialTimeout bounds a connection attempt.
	DialTimeout Duration `yaml:"dial_timeout" json:"dial_timeout"`
	// RequestTimeout is the time allowed for the network on each request.
	RequestTimeout Duration `yaml:"request_timeout" json:"request_timeout"`
	// MetadataRefresh is how often cluster metadata is refreshed.
	MetadataRefresh Duration `yaml:"metadata_refresh" json:"metadata_refresh"`
}

// KafkaTLS configures TLS to Kafka.
type KafkaTLS struct {
	// Enabled turns TLS on (with the system roots unless CAFile is set).
	Enabled bool `yaml:"enabled" json:"enabled"`
	// CAFile is a PEM bundle of the CAs to trust.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// CertFile and KeyFile are a client certificate (mutual TLS).
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// ServerName overrides the name checked in the server certificate.
	ServerName string `yaml:"server_name" json:"server_name"`
	// InsecureSkipVerify does not check the server certificate (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
}

// KafkaSASL configures SASL authentication.
type KafkaSASL struct {
	// Mechanism is "" (none), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism" json:"mechanism"`
	Username  string `yaml:"username" json:"username"`
	Password  Secret `yaml:"password" json:"password"`
}

// KafkaHeader is one record header template.
type KafkaHeader struct {
	Key   string `yaml:"key" json:"key"`
	Value string `yaml:"value" json:"value"`
}

// KafkaProducer maps rule outputs to Kafka records and says how to send
// them. Templates name event fields as ${field} or ${payload.path}.
type KafkaProducer struct {
	// Topic is the Kafka topic template (required).
	Topic string `yaml:"topic" json:"topic"`
	// Key is the record key template ("": the client id).
	Key string `yaml:"key" json:"key"`
	// Value is the record value template ("": the rule output as JSON).
	Value string `yaml:"value" json:"value"`
	// Timestamp is a template giving milliseconds ("": the publish time).
	Timestamp string `yaml:"timestamp" json:"timestamp"`
	// Headers are record header templates.
	Headers []KafkaHeader `yaml:"headers" json:"headers"`
	// Partitioner is hash (of the key), random or round_robin.
	Partitioner string `yaml:"partitioner" json:"partitioner"`
	// Mode is async (batched, for throughput) or sync (each record
	// acknowledged before the next, for latency).
	Mode string `yaml:"mode" json:"mode"`
	// Linger is how long an async batch waits to fill.
	Linger Duration `yaml:"linger" json:"linger"`
	// MaxInflight is produce requests in flight per broker (1 to 5).
	MaxInflight int `yaml:"max_inflight" json:"max_inflight"`
	// Acks is all, leader or none.
	Acks string `yaml:"acks" json:"acks"`
	// Idempotent turns on the idempotent producer (needs acks all).
	Idempotent bool `yaml:"idempotent" json:"idempotent"`
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression" json:"compression"`
	// BatchSize is the most records per send.
	BatchSize int `yaml:"batch_size" json:"batch_size"`
	// SendTimeout bounds one send; a Kafka that does not answer in time
	// counts as down and records go to the disk buffer.
	SendTimeout Duration `yaml:"send_timeout" json:"send_timeout"`
}

// KafkaConsumer maps Kafka records to MQTT messages.
type KafkaConsumer struct {
	// Topics are Kafka topics (regular expressions with TopicsRegex).
	Topics      []string `yaml:"topics" json:"topics"`
	TopicsRegex bool     `yaml:"topics_regex" json:"topics_regex"`
	// Group is the consumer group ("": iothub-<bridge name>).
	Group string `yaml:"group" json:"group"`
	// Offset is where a new group starts: latest or earliest.
	Offset string `yaml:"offset" json:"offset"`
	// KeyEncoding and ValueEncoding render ${key} and ${value}: plain,
	// base64 or hex.
	KeyEncoding   string `yaml:"key_encoding" json:"key_encoding"`
	ValueEncoding string `yaml:"value_encoding" json:"value_encoding"`
	// MQTTTopic is the topic template: ${key}, ${topic}, ${partition},
	// ${offset}, ${timestamp}, ${headers.<name>}.
	MQTTTopic string `yaml:"mqtt_topic" json:"mqtt_topic"`
	// Payload is the payload template ("": the record value).
	Payload string `yaml:"payload" json:"payload"`
	// QoS and Retain of the published messages.
	QoS    int  `yaml:"qos" json:"qos"`
	Retain bool `yaml:"retain" json:"retain"`
	// UserProperties copies record headers to MQTT 5 user properties.
	UserProperties bool `yaml:"user_properties" json:"user_properties"`
	// SessionTimeout is how long the group waits for a member's heartbeat
	// before it expires the member: after a consumer dies without leaving
	// (kill -9), its partitions are not consumed for about this long.
	SessionTimeout Duration `yaml:"session_timeout" json:"session_timeout"`
	// RebalanceTimeout is how long members have to rejoin in a rebalance.
	RebalanceTimeout Duration `yaml:"rebalance_timeout" json:"rebalance_timeout"`
	// HeartbeatInterval is how often a member heartbeats (below a third of
	// session_timeout).
	HeartbeatInterval Duration `yaml:"heartbeat_interval" json:"heartbeat_interval"`
}

// BridgeBuffer configures the memory queue and the durable disk queue in
// data_dir/bridges/<name>/.
type BridgeBuffer struct {
	// MemoryRecords bounds the memory queue; beyond it records go to disk.
	MemoryRecords int `yaml:"memory_records" json:"memory_records"`
	// MaxBytes bounds the disk queue.
	MaxBytes int `yaml:"max_bytes" json:"max_bytes"`
	// SegmentBytes is the size of one disk queue file.
	SegmentBytes int `yaml:"segment_bytes" json:"segment_bytes"`
	// FullPolicy is drop_oldest or refuse (both counted).
	FullPolicy string `yaml:"full_policy" json:"full_policy"`
	// Fsync is always, interval or never.
	Fsync string `yaml:"fsync" json:"fsync"`
	// FsyncInterval is the period of fsync: interval.
	FsyncInterval Duration `yaml:"fsync_interval" json:"fsync_interval"`
}

// DefaultBridge returns the settings a new entry of bridges starts from.
func DefaultBridge() Bridge {
	return Bridge{
		Type:    BridgeKafkaProducer,
		Enabled: true,
		Kafka: KafkaConn{ClientID: "iothub", DialTimeout: Duration(10 * time.Second),
			RequestTimeout: Duration(10 * time.Second), MetadataRefresh: Duration(5 * time.Minute)},
		Producer: KafkaProducer{Partitioner: "hash", Mode: "async", Linger: Duration(5 * time.Millisecond),
			MaxInflight: 5, Acks: "all", Idempotent: true, Compression: "none", BatchSize: 500,
			SendTimeout: Duration(10 * time.Second)},
		Consumer: KafkaConsumer{Offset: "latest", KeyEncoding: "plain", ValueEncoding: "plain", QoS: 1,
			UserProperties: true, SessionTimeout: Duration(10 * time.Second),
			RebalanceTimeout: Duration(30 * time.Second), HeartbeatInterval: Duration(3 * time.Second)},
		Postgres: defaultPostgres(),
		MQTT:     defaultMQTTBridge(),
		Redis:    defaultRedisBridge(),
		Webhook:  defaultWebhook(),
		Buffer: BridgeBuffer{MemoryRecords: 10000, MaxBytes: 1 << 30, SegmentBytes: 16 << 20,
			FullPolicy: "drop_oldest", Fsync: "interval", FsyncInterval: Duration(time.Second)},
		DeadLetter: DeadLetter{File: "dead_letter.jsonl", MaxBytes: 64 << 20},
	}
}

func init() {
	elemDefaults[reflect.TypeFor[Bridge]()] = func() any { return DefaultBridge() }
}

var bridgeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// validateBridges checks the bridges section. Templates are parsed (and
// refused with their position) when the hub starts.
func validateBridges(bs []Bridge, v *checker) {
	seen := map[string]bool{}
	for i := range bs {
		b := &bs[i]
		key := "bridges." + strconv.Itoa(i)
		switch {
		case !bridgeName.MatchString(b.Name):
			v.bad(join(key, "name"), "%q: want 1 to 64 letters, digits, '_', '-' or '.'", b.Name)
		case seen[b.Name]:
			v.bad(join(key, "name"), "duplicate bridge name %q", b.Name)
		}
		seen[b.Name] = true
		b.validate(key, v)
	}
}

// validate checks one bridge; key prefixes the key paths of its errors.
func (b *Bridge) validate(key string, v *checker) {
	v.oneOf(join(key, "type"), b.Type, BridgeKafkaProducer, BridgeKafkaConsumer, BridgePostgres, BridgeMQTT,
		BridgeRedis, BridgeWebhook)
	switch b.Type {
	case BridgeRedis:
		b.Redis.validate(key, v)
		b.validateSink(key, v)
		return
	case BridgeWebhook:
		b.Webhook.validate(key, v)
		b.validateSink(key, v)
		return
	case BridgePostgres:
		b.Postgres.validate(key, v)
		b.validateSink(key, v)
		return
	case BridgeMQTT:
		b.MQTT.validate(key, v)
		b.validateSink(key, v)
		return
	}
	if len(b.Kafka.BootstrapServers) == 0 {
		v.bad(join(key, "kafka.bootstrap_servers"), "required")
	}
	for j, s := range b.Kafka.BootstrapServers {
		v.address(join(key, "kafka.bootstrap_servers.")+strconv.Itoa(j), s)
	}
	v.oneOf(join(key, "kafka.sasl.mechanism"), b.Kafka.SASL.Mechanism, "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
	v.file(join(key, "kafka.tls.ca_file"), b.Kafka.TLS.CAFile, false)
	if (b.Kafka.TLS.CertFile == "") != (b.Kafka.TLS.KeyFile == "") {
		v.bad(join(key, "kafka.tls.cert_file"), "cert_file and key_file go together")
	}
	switch b.Type {
	case BridgeKafkaProducer:
		p := &b.Producer
		if p.Topic == "" {
			v.bad(join(key, "producer.topic"), "required")
		}
		v.oneOf(join(key, "producer.partitioner"), p.Partitioner, "hash", "random", "round_robin")
		v.oneOf(join(key, "producer.mode"), p.Mode, "async", "sync")
		v.oneOf(join(key, "producer.acks"), p.Acks, "all", "leader", "none")
		v.oneOf(join(key, "producer.compression"), p.Compression, "none", "gzip", "snappy", "lz4", "zstd")
		v.between(join(key, "producer.max_inflight"), p.MaxInflight, 1, 5)
		b.validateSink(key, v)
	case BridgeKafkaConsumer:
		c := &b.Consumer
		if len(c.Topics) == 0 {
			v.bad(join(key, "consumer.topics"), "required")
		}
		if c.MQTTTopic == "" {
			v.bad(join(key, "consumer.mqtt_topic"), "required")
		}
		v.oneOf(join(key, "consumer.offset"), c.Offset, "latest", "earliest")
		v.oneOf(join(key, "consumer.key_encoding"), c.KeyEncoding, "plain", "base64", "hex")
		v.oneOf(join(key, "consumer.value_encoding"), c.ValueEncoding, "plain", "base64", "hex")
		v.between(join(key, "consumer.qos"), c.QoS, 0, 2)
		v.duration(join(key, "consumer.session_timeout"), c.SessionTimeout, time.Second, time.Hour)
		v.duration(join(key, "consumer.rebalance_timeout"), c.RebalanceTimeout, time.Second, time.Hour)
		v.duration(join(key, "consumer.heartbeat_interval"), c.HeartbeatInterval, 100*time.Millisecond, time.Hour)
		if c.HeartbeatInterval >= c.SessionTimeout {
			v.bad(join(key, "consumer.heartbeat_interval"), "%s must be below session_timeout %s", c.HeartbeatInterval, c.SessionTimeout)
		}
	}
}

// validateSink checks the settings of the delivery engine that every sink
// bridge shares: producer.batch_size and send_timeout, and the buffer.
func (b *Bridge) validateSink(key string, v *checker) {
	v.between(join(key, "producer.batch_size"), b.Producer.BatchSize, 1, 100000)
	v.duration(join(key, "producer.send_timeout"), b.Producer.SendTimeout, 100*time.Millisecond, 0)
	bf := &b.Buffer
	v.between(join(key, "buffer.memory_records"), bf.MemoryRecords, 1, 10_000_000)
	if bf.MaxBytes < 1<<20 {
		v.bad(join(key, "buffer.max_bytes"), "%d must be at least 1048576", bf.MaxBytes)
	}
	if bf.SegmentBytes < 1<<16 {
		v.bad(join(key, "buffer.segment_bytes"), "%d must be at least 65536", bf.SegmentBytes)
	}
	v.oneOf(join(key, "buffer.full_policy"), bf.FullPolicy, "drop_oldest", "refuse")
	v.oneOf(join(key, "buffer.fsync"), bf.Fsync, "always", "interval", "never")
	v.duration(join(key, "buffer.fsync_interval"), bf.FsyncInterval, time.Millisecond, 0)
	dl := &b.DeadLetter
	if dl.KafkaTopic != "" && b.Type != BridgeKafkaProducer {
		v.bad(join(key, "dead_letter.kafka_topic"), "only a kafka_producer bridge can produce to Kafka (use mqtt_topic or file)")
	}
	if dl.MQTTTopic != "" && (strings.ContainsAny(dl.MQTTTopic, "+#\x00") || strings.HasPrefix(dl.MQTTTopic, "$")) {
		v.bad(join(key, "dead_letter.mqtt_topic"), "%q is not a topic name this hub publishes to", dl.MQTTTopic)
	}
	if dl.File != "" && dl.MaxBytes < 1<<10 {
		v.bad(join(key, "dead_letter.max_bytes"), "%d must be at least 1024", dl.MaxBytes)
	}
}

// ValidateBridge checks one bridge definition (from the API), returning
// every problem joined, with key paths relative to the bridge.
func ValidateBridge(b *Bridge) error {
	var v checker
	if !bridgeName.MatchString(b.Name) {
		v.bad("name", "%q: want 1 to 64 letters, digits, '_', '-' or '.'", b.Name)
	}
	b.validate("", &v)
	return v.join()
}
