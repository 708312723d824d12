package kafka

import (
	"strconv"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/config"
)

// The bridge types of this package.
const (
	// TypeProducer sends rule outputs to Kafka (rules reach it with an
	// action {type: bridge, bridge: <name>}).
	TypeProducer = "kafka_producer"
	// TypeConsumer publishes Kafka records to MQTT topics.
	TypeConsumer = "kafka_consumer"
)

func init() {
	bridge.RegisterType(bridge.TypeInfo{Name: TypeProducer, New: func() bridge.Config { return NewProducerConfig() },
		Example: connExample + producerExample})
	bridge.RegisterType(bridge.TypeInfo{Name: TypeConsumer, New: func() bridge.Config { return NewConsumerConfig() },
		Example: connExample + consumerExample})
}

// ConnConfig is the kafka section: how to reach the cluster (TLS is the
// bridge's common tls section).
type ConnConfig struct {
	// BootstrapServers are host:port addresses of brokers.
	BootstrapServers []string `yaml:"bootstrap_servers"`
	// ClientID is the Kafka client id.
	ClientID string `yaml:"client_id"`
	// SASL authenticates the client.
	SASL SASLConfig `yaml:"sasl"`
	// DialTimeout bounds a connection attempt.
	DialTimeout config.Duration `yaml:"dial_timeout"`
	// RequestTimeout is the time allowed for the network on each request.
	RequestTimeout config.Duration `yaml:"request_timeout"`
	// MetadataRefresh is how often cluster metadata is refreshed.
	MetadataRefresh config.Duration `yaml:"metadata_refresh"`
}

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	// Mechanism is "" (none), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	// Username and Password are the SASL credentials.
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"`
}

// ProducerSettings is the producer section: how rule outputs become
// records and how they are sent. Templates name event fields as ${field}
// or ${payload.path}.
type ProducerSettings struct {
	// Topic is the Kafka topic template (required).
	Topic string `yaml:"topic"`
	// Key is the record key template ("": the client id).
	Key string `yaml:"key"`
	// Value is the record value template ("": the rule output as JSON).
	Value string `yaml:"value"`
	// Timestamp is a template giving milliseconds ("": the publish time).
	Timestamp string `yaml:"timestamp"`
	// Headers are record header templates.
	Headers []bridge.KeyValue `yaml:"headers"`
	// Partitioner is hash (of the key), random or round_robin.
	Partitioner string `yaml:"partitioner"`
	// Mode is async (batched, for throughput) or sync (each record
	// acknowledged before the next, for latency).
	Mode string `yaml:"mode"`
	// Linger is how long an async batch waits to fill.
	Linger config.Duration `yaml:"linger"`
	// MaxInflight is produce requests in flight per broker (1 to 5).
	MaxInflight int `yaml:"max_inflight"`
	// Acks is all, leader or none.
	Acks string `yaml:"acks"`
	// Idempotent turns on the idempotent producer (needs acks all).
	Idempotent bool `yaml:"idempotent"`
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression"`
}

// ConsumerSettings is the consumer section: which records to read and how
// they become MQTT messages.
type ConsumerSettings struct {
	// Topics are Kafka topics (regular expressions with TopicsRegex).
	Topics      []string `yaml:"topics"`
	TopicsRegex bool     `yaml:"topics_regex"`
	// Group is the consumer group ("": iothub-<bridge name>).
	Group string `yaml:"group"`
	// Offset is where a new group starts: latest or earliest.
	Offset string `yaml:"offset"`
	// KeyEncoding and ValueEncoding render ${key} and ${value}: plain,
	// base64 or hex.
	KeyEncoding   string `yaml:"key_encoding"`
	ValueEncoding string `yaml:"value_encoding"`
	// MQTTTopic is the topic template: ${key}, ${topic}, ${partition},
	// ${offset}, ${timestamp}, ${headers.<name>}.
	MQTTTopic string `yaml:"mqtt_topic"`
	// Payload is the payload template ("": the record value).
	Payload string `yaml:"payload"`
	// QoS and Retain of the published messages.
	QoS    int  `yaml:"qos"`
	Retain bool `yaml:"retain"`
	// UserProperties copies record headers to MQTT 5 user properties.
	UserProperties bool `yaml:"user_properties"`
	// SessionTimeout is how long the group waits for a member's heartbeat
	// before it expires the member: after a consumer dies without leaving
	// (kill -9), its partitions are not consumed for about this long.
	SessionTimeout config.Duration `yaml:"session_timeout"`
	// RebalanceTimeout is how long members have to rejoin in a rebalance.
	RebalanceTimeout config.Duration `yaml:"rebalance_timeout"`
	// HeartbeatInterval is how often a member heartbeats (below a third of
	// session_timeout).
	HeartbeatInterval config.Duration `yaml:"heartbeat_interval"`
}

// ProducerConfig is the kafka_producer type's keys.
type ProducerConfig struct {
	Kafka    ConnConfig       `yaml:"kafka"`
	Producer ProducerSettings `yaml:"producer"`
}

// ConsumerConfig is the kafka_consumer type's keys.
type ConsumerConfig struct {
	Kafka    ConnConfig       `yaml:"kafka"`
	Consumer ConsumerSettings `yaml:"consumer"`
}

func defaultConn() ConnConfig {
	return ConnConfig{ClientID: "iothub", DialTimeout: config.Duration(10 * time.Second),
		RequestTimeout: config.Duration(10 * time.Second), MetadataRefresh: config.Duration(5 * time.Minute)}
}

// NewProducerConfig returns the kafka_producer defaults.
func NewProducerConfig() *ProducerConfig {
	return &ProducerConfig{Kafka: defaultConn(), Producer: ProducerSettings{Partitioner: PartitionHash, Mode: "async",
		Linger: config.Duration(5 * time.Millisecond), MaxInflight: 5, Acks: AcksAll, Idempotent: true, Compression: "none"}}
}

// NewConsumerConfig returns the kafka_consumer defaults.
func NewConsumerConfig() *ConsumerConfig {
	return &ConsumerConfig{Kafka: defaultConn(), Consumer: ConsumerSettings{Offset: "latest", KeyEncoding: EncodingPlain,
		ValueEncoding: EncodingPlain, QoS: 1, UserProperties: true, SessionTimeout: config.Duration(DefaultSessionTimeout),
		RebalanceTimeout: config.Duration(DefaultRebalanceTimeout), HeartbeatInterval: config.Duration(DefaultHeartbeatInterval)}}
}

func (k *ConnConfig) validate(v *config.Checker) {
	if len(k.BootstrapServers) == 0 {
		v.Bad("kafka.bootstrap_servers", "required")
	}
	for j, s := range k.BootstrapServers {
		v.Address("kafka.bootstrap_servers."+strconv.Itoa(j), s)
	}
	v.OneOf("kafka.sasl.mechanism", k.SASL.Mechanism, "", SASLPlain, SASLScramSHA256, SASLScramSHA512)
}

// conn maps the section onto a Conn, with the bridge's TLS and logger.
func (k *ConnConfig) conn(bc bridge.BuildContext) Conn {
	c := Conn{Brokers: k.BootstrapServers, ClientID: k.ClientID, SASLMechanism: k.SASL.Mechanism,
		SASLUser: k.SASL.Username, SASLPassword: string(k.SASL.Password), DialTimeout: k.DialTimeout.D(),
		RequestTimeout: k.RequestTimeout.D(), MetadataMaxAge: k.MetadataRefresh.D(), Logger: bc.Logger}
	if bc.TLSEnabled {
		c.TLS = bc.TLS
	}
	return c
}

// staticTopic returns topic when it is not a template, else "".
func staticTopic(topic string) string {
	if strings.Contains(topic, "${") {
		return ""
	}
	return topic
}

// Validate implements bridge.Config.
func (c *ProducerConfig) Validate() error {
	var v config.Checker
	c.Kafka.validate(&v)
	p := &c.Producer
	v.Required("producer.topic", p.Topic)
	v.OneOf("producer.partitioner", p.Partitioner, PartitionHash, PartitionRandom, PartitionRoundRobin)
	v.OneOf("producer.mode", p.Mode, "async", "sync")
	v.OneOf("producer.acks", p.Acks, AcksAll, AcksLeader, AcksNone)
	v.OneOf("producer.compression", p.Compression, "none", "gzip", "snappy", "lz4", "zstd")
	v.Between("producer.max_inflight", p.MaxInflight, 1, 5)
	return v.Err()
}

// Build implements bridge.Config: a Producer (not connected) and the
// record templates of the producer section.
func (c *ProducerConfig) Build(bc bridge.BuildContext) (*bridge.Parts, error) {
	p := c.Producer
	sync := p.Mode == "sync"
	sink, err := NewProducer(ProducerOptions{Conn: c.Kafka.conn(bc), Partitioner: p.Partitioner, Sync: sync,
		Linger: p.Linger.D(), MaxInflight: p.MaxInflight, Acks: p.Acks, Idempotent: p.Idempotent, Compression: p.Compression,
		Topic: staticTopic(p.Topic)})
	if err != nil {
		return nil, err
	}
	parts := &bridge.Parts{Sink: sink, Templates: bridge.Templates{
		Topic: bridge.TemplateSpec{Key: "producer.topic", Text: p.Topic}, Key: bridge.TemplateSpec{Key: "producer.key", Text: p.Key},
		Value:      bridge.TemplateSpec{Key: "producer.value", Text: p.Value},
		Timestamp:  bridge.TemplateSpec{Key: "producer.timestamp", Text: p.Timestamp},
		HeadersKey: "producer.headers", Headers: p.Headers}}
	if sync {
		parts.MaxInflightBatches = 1 // one record acknowledged at a time
	}
	return parts, nil
}

// Validate implements bridge.Config.
func (c *ConsumerConfig) Validate() error {
	var v config.Checker
	c.Kafka.validate(&v)
	s := &c.Consumer
	if len(s.Topics) == 0 {
		v.Bad("consumer.topics", "required")
	}
	v.Required("consumer.mqtt_topic", s.MQTTTopic)
	v.OneOf("consumer.offset", s.Offset, "latest", "earliest")
	v.OneOf("consumer.key_encoding", s.KeyEncoding, EncodingPlain, EncodingBase64, EncodingHex)
	v.OneOf("consumer.value_encoding", s.ValueEncoding, EncodingPlain, EncodingBase64, EncodingHex)
	v.Between("consumer.qos", s.QoS, 0, 2)
	v.Duration("consumer.session_timeout", s.SessionTimeout, time.Second, time.Hour)
	v.Duration("consumer.rebalance_timeout", s.RebalanceTimeout, time.Second, time.Hour)
	v.Duration("consumer.heartbeat_interval", s.HeartbeatInterval, 100*time.Millisecond, time.Hour)
	if s.HeartbeatInterval >= s.SessionTimeout {
		v.Bad("consumer.heartbeat_interval", "%s must be below session_timeout %s", s.HeartbeatInterval, s.SessionTimeout)
	}
	return v.Err()
}

// Build implements bridge.Config: a Consumer (its templates parsed, not
// connected).
func (c *ConsumerConfig) Build(bc bridge.BuildContext) (*bridge.Parts, error) {
	s := c.Consumer
	group := s.Group
	if group == "" {
		group = "iothub-" + bc.Name
	}
	src, err := NewConsumer(ConsumerOptions{Conn: c.Kafka.conn(bc), Name: bc.Name, Topics: s.Topics, Regex: s.TopicsRegex,
		Group: group, Offset: s.Offset, KeyEncoding: s.KeyEncoding, ValueEncoding: s.ValueEncoding, MQTTTopic: s.MQTTTopic,
		Payload: s.Payload, QoS: byte(s.QoS), Retain: s.Retain, UserProperties: s.UserProperties,
		SessionTimeout: s.SessionTimeout.D(), RebalanceTimeout: s.RebalanceTimeout.D(), HeartbeatInterval: s.HeartbeatInterval.D()})
	if err != nil {
		return nil, err
	}
	return &bridge.Parts{Source: src}, nil
}

const connExample = `kafka:
  bootstrap_servers: [localhost:9092] # host:port of Kafka brokers (required)
  client_id: iothub # Kafka client id
  sasl:
    mechanism: "" # "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
    username: "" # SASL user
    password: "" # SASL password
  dial_timeout: 10s # bound on a connection attempt
  request_timeout: 10s # network time allowed per request
  metadata_refresh: 5m # how often cluster metadata is refreshed
`

const producerExample = `producer:
  topic: message_state # Kafka topic template (required)
  key: "" # record key template ("": the client id)
  value: "" # record value template ("": the rule output as JSON)
  timestamp: "" # record timestamp template in ms ("": the publish time)
  headers:
    - key: source # header name
      value: ${node} # header value template
  partitioner: hash # hash (of the key), random or round_robin
  mode: async # async (batched, throughput) or sync (one record at a time, latency)
  linger: 5ms # how long an async batch waits to fill
  max_inflight: 5 # produce requests in flight per broker, 1 to 5
  acks: all # all, leader or none
  idempotent: true # idempotent producer (needs acks all)
  compression: none # none, gzip, snappy, lz4 or zstd
`

const consumerExample = `consumer:
  topics: [] # Kafka topics (required)
  topics_regex: false # topics are regular expressions
  group: "" # consumer group ("": iothub-<name>)
  offset: latest # where a new group starts: latest or earliest
  key_encoding: plain # ${key} as plain, base64 or hex
  value_encoding: plain # ${value} as plain, base64 or hex
  mqtt_topic: "" # MQTT topic template: ${key} ${topic} ${partition} ${offset} ${timestamp} ${headers.x} (required)
  payload: "" # payload template ("": the record value)
  qos: 1 # QoS of the published messages
  retain: false # retain flag of the published messages
  user_properties: true # record headers become MQTT 5 user properties
  session_timeout: 10s # a member that stops heartbeating is expired after this (its partitions wait that long)
  rebalance_timeout: 30s # time members have to rejoin during a rebalance
  heartbeat_interval: 3s # how often a member heartbeats (below a third of session_timeout)
`

var (
	_ bridge.Config             = (*ProducerConfig)(nil)
	_ bridge.Config             = (*ConsumerConfig)(nil)
	_ bridge.DeadLetterProducer = (*Producer)(nil)
)
