package config

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/bridge"
)

// DefaultBridgeType is the type of a bridge entry that names none.
const DefaultBridgeType = "kafka_producer"

// Bridge is one bridge (docs/bridges.md): the common keys, defined here,
// and the keys of its type, which belong to the type's package
// (bridge.RegisterType) and stand beside them in the same entry. The same
// entry, in JSON, is what the HTTP API takes and data_dir/bridges.json
// keeps (MarshalJSON, DecodeBridge).
type Bridge struct {
	// Name identifies the bridge: 1 to 64 letters, digits, '_', '-' or '.'.
	Name string `yaml:"name"`
	// Type is a registered bridge type (kafka_producer, kafka_consumer,
	// postgres, mqtt, redis, webhook in the standard set).
	Type string `yaml:"type"`
	// Enabled bridges run; a disabled one keeps its disk queue.
	Enabled bool `yaml:"enabled"`
	// Settings are the type's own keys (its bridge.TypeInfo.New value),
	// inline; nil when Type names no registered type.
	Settings bridge.Config `yaml:",inline"`
	// TLS encrypts the connections (types that connect over TLS).
	TLS ClientTLS `yaml:"tls"`
	// BatchSize is the most records per send (every bridge that sends).
	BatchSize int `yaml:"batch_size"`
	// SendTimeout bounds one send: a target that does not answer in time
	// counts as down (Kafka: the batch is still waited for; other sinks:
	// its records are sent again).
	SendTimeout Duration `yaml:"send_timeout"`
	// Buffer is the delivery engine's durable queue and memory cache
	// (every bridge that sends).
	Buffer BridgeBuffer `yaml:"buffer"`
	// DeadLetter is where records the target refuses for good go
	// (every bridge that sends).
	DeadLetter DeadLetter `yaml:"dead_letter"`
}

// ClientTLS configures TLS towards the system a bridge connects to.
type ClientTLS struct {
	// Enabled turns TLS on (with the system roots unless CAFile is set).
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs to trust.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate (mutual TLS).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify does not check the server certificate (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// DeadLetter says where a bridge keeps the records its target refuses for
// good (a Kafka topic that does not exist, a record too large, a row the
// database refuses, an HTTP 4xx), so that one bad record neither blocks
// the bridge nor vanishes. The first one set of kafka_topic, mqtt_topic
// and file is used; all empty: such records are dropped (counted).
type DeadLetter struct {
	// File is a JSON-lines file, relative to the bridge's queue directory
	// (data_dir/bridges/<name>/) unless absolute.
	File string `yaml:"file"`
	// MaxBytes bounds File: when it is full it is rotated to File.1
	// (replacing the previous File.1), so the two hold at most twice
	// MaxBytes; each rotation is counted.
	MaxBytes int `yaml:"max_bytes"`
	// MQTTTopic publishes each record into this hub, as a JSON document,
	// on this topic (QoS 1).
	MQTTTopic string `yaml:"mqtt_topic"`
	// KafkaTopic produces each record, unchanged, to this Kafka topic,
	// with the error in a header (a bridge whose sink can: kafka_producer).
	KafkaTopic string `yaml:"kafka_topic"`
}

// BridgeBuffer configures the memory queue and the durable disk queue in
// data_dir/bridges/<name>/.
type BridgeBuffer struct {
	// MemoryRecords bounds the memory queue; beyond it records go to disk.
	MemoryRecords int `yaml:"memory_records"`
	// MaxBytes bounds the disk queue.
	MaxBytes int `yaml:"max_bytes"`
	// SegmentBytes is the size of one disk queue file.
	SegmentBytes int `yaml:"segment_bytes"`
	// FullPolicy is drop_oldest or refuse (both counted).
	FullPolicy string `yaml:"full_policy"`
	// Fsync is always, interval or never.
	Fsync string `yaml:"fsync"`
	// FsyncInterval is the period of fsync: interval.
	FsyncInterval Duration `yaml:"fsync_interval"`
}

// DefaultBridge returns the settings a new entry of bridges starts from:
// the common defaults and the default type's (DefaultBridgeType, when it
// is registered).
func DefaultBridge() Bridge {
	b := Bridge{
		Type:        DefaultBridgeType,
		Enabled:     true,
		BatchSize:   500,
		SendTimeout: Duration(10 * time.Second),
		Buffer: BridgeBuffer{MemoryRecords: 10000, MaxBytes: 1 << 30, SegmentBytes: 16 << 20,
			FullPolicy: "drop_oldest", Fsync: "interval", FsyncInterval: Duration(time.Second)},
		DeadLetter: DeadLetter{File: "dead_letter.jsonl", MaxBytes: 64 << 20},
	}
	b.syncSettings()
	return b
}

// NewBridge returns DefaultBridge named name, of type typ with that
// type's defaults (Settings nil when typ is not registered).
func NewBridge(name, typ string) Bridge {
	b := DefaultBridge()
	b.Name, b.Type = name, typ
	b.syncSettings()
	return b
}

var bridgeType = reflect.TypeFor[Bridge]()

func init() {
	elemDefaults[bridgeType] = func() any { return DefaultBridge() }
}

// inlineTypes returns the types an inline interface field may hold: for a
// bridge's settings, every registered type's.
func inlineTypes(t reflect.Type) []reflect.Type {
	if t != reflect.TypeFor[bridge.Config]() {
		return nil
	}
	var out []reflect.Type
	for _, ti := range bridgeTypes() {
		out = append(out, reflect.TypeOf(ti.New()).Elem())
	}
	return out
}

// bridgeTypes returns the registered types, the default type first.
func bridgeTypes() []bridge.TypeInfo {
	types := bridge.Types()
	for i, t := range types {
		if t.Name == DefaultBridgeType {
			copy(types[1:i+1], types[:i])
			types[0] = t
		}
	}
	return types
}

func bridgeTypeNames() string {
	var names []string
	for _, t := range bridge.Types() {
		names = append(names, t.Name)
	}
	if len(names) == 0 {
		return "none registered"
	}
	return strings.Join(names, ", ")
}

// syncSettings makes Settings hold the settings of Type: kept when they
// already are of its Go type, fresh defaults otherwise, nil for a type
// that is not registered.
func (b *Bridge) syncSettings() {
	t, ok := bridge.LookupType(b.Type)
	if !ok {
		b.Settings = nil
		return
	}
	fresh := t.New()
	if b.Settings == nil || reflect.TypeOf(b.Settings) != reflect.TypeOf(fresh) {
		b.Settings = fresh
	}
}

// syncBridgeTypes fits every bridge's settings to its type (after Set
// changed a type).
func (c *Config) syncBridgeTypes() {
	for i := range c.Bridges {
		c.Bridges[i].syncSettings()
	}
}

// ownsKey reports whether the bridge's settings have the top-level key.
func (b *Bridge) ownsKey(name string) bool {
	if b.Settings == nil {
		return false
	}
	for _, f := range fields(reflect.ValueOf(b.Settings).Elem()) {
		if f.name == name {
			return true
		}
	}
	return false
}

// typeWithKey returns a registered type, other than the bridge's, that has
// the top-level key name ("" when none has).
func (b *Bridge) typeWithKey(name string) string {
	for _, t := range bridgeTypes() {
		if t.Name == b.Type {
			continue
		}
		for _, f := range fields(reflect.ValueOf(t.New()).Elem()) {
			if f.name == name {
				return t.Name
			}
		}
	}
	return ""
}

// unknownKeyHint explains a key that the struct v does not have; skip is
// set when the key must not be reported (a bridge of an unknown type: its
// type key is reported instead).
func unknownKeyHint(v reflect.Value, name string, fs []field) (msg string, skip bool) {
	if v.Type() == bridgeType {
		if msg := foreignKey(v, name); msg != "" {
			return msg, false
		}
		if v.Addr().Interface().(*Bridge).Settings == nil {
			return "", true
		}
	}
	return suggest(name, fs), false
}

// foreignKey explains a key of another bridge type given to a bridge, or
// returns "".
func foreignKey(v reflect.Value, name string) string {
	if v.Type() != bridgeType || !v.CanAddr() {
		return ""
	}
	b := v.Addr().Interface().(*Bridge)
	if other := b.typeWithKey(name); other != "" {
		return "a key of " + other + " bridges, not of " + strconv.Quote(b.Type)
	}
	return ""
}

var bridgeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// validateBridges checks the bridges section. Templates are parsed (and
// refused with their position) when the hub builds the bridges.
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

// validate checks one bridge: its type's settings (their Validate) and
// the common keys; key prefixes the key paths of its errors.
func (b *Bridge) validate(key string, v *checker) {
	if b.Settings == nil {
		v.bad(join(key, "type"), "%q is not a bridge type (known: %s)", b.Type, bridgeTypeNames())
	} else {
		v.adopt(key, b.Settings.Validate())
	}
	t := &b.TLS
	v.file(join(key, "tls.ca_file"), t.CAFile, false)
	v.file(join(key, "tls.cert_file"), t.CertFile, false)
	v.file(join(key, "tls.key_file"), t.KeyFile, false)
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.bad(join(key, "tls.cert_file"), "cert_file and key_file go together")
	}
	v.between(join(key, "batch_size"), b.BatchSize, 1, 100000)
	v.duration(join(key, "send_timeout"), b.SendTimeout, 100*time.Millisecond, 0)
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

// MQTTSubscription is one remote filter whose messages are published in
// this hub: of an mqtt bridge (bridge/mqtt) or of the edge's upstream link.
type MQTTSubscription struct {
	// Filter is the remote topic filter.
	Filter string `yaml:"filter" json:"filter"`
	// QoS is the subscription's maximum QoS.
	QoS int `yaml:"qos" json:"qos"`
	// LocalTopic is the local topic template: ${topic} (the remote topic)
	// or ${suffix} (the part matched from the filter's first wildcard on).
	LocalTopic string `yaml:"local_topic" json:"local_topic"`
}

func init() {
	elemDefaults[reflect.TypeFor[MQTTSubscription]()] = func() any { return MQTTSubscription{QoS: 1, LocalTopic: "${topic}"} }
}
