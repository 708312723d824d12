package bridge

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/iothub-dev/iothub/msg"
)

// TypeInfo registers a bridge type (Caddy's module registration, shrunk):
// the value of a bridge's `type` key and the constructor of its settings.
type TypeInfo struct {
	// Name is the value of the type key: kafka_producer, redis, … (letters,
	// digits and '_').
	Name string
	// New returns a fresh Config holding the type's defaults. It is a
	// pointer to a struct whose exported fields, named by their yaml tags,
	// are the type's keys: they stand in the bridge's entry beside the
	// common keys (name, type, enabled, tls, batch_size, send_timeout,
	// buffer, dead_letter), usually as one section named after the type
	// (`redis: {…}`). The configuration decodes the entry strictly into it:
	// an unknown key is an error naming it.
	New func() Config
	// Example is the type's keys as YAML, each with its default and a
	// `# description` comment; `iothub config example` shows it in the
	// commented-out bridge entry. A top-level section another type already
	// showed (kafka, for both Kafka types) is shown once.
	Example string
}

// Config is a bridge type's own settings, decoded from the bridge's entry
// (the configuration file, the HTTP API, data_dir/bridges.json).
type Config interface {
	// Validate checks the values alone, without opening files or the
	// network, and returns every problem found, joined; a *config.KeyError
	// (config.Checker makes them) names its key relative to the bridge's
	// entry ("redis.addresses"), any other error is reported on the entry.
	Validate() error
	// Build makes the bridge. It parses what it must (templates, a
	// statement) and creates its clients but does not connect nor start
	// anything: an unreachable system is not an error here, it shows in
	// the bridge's status once it runs. With bc.Check the parts are
	// closed again at once (`iothub config check`).
	Build(bc BuildContext) (*Parts, error)
}

// BuildContext is what Build gets besides the type's settings.
type BuildContext struct {
	// Name is the bridge's name.
	Name string
	// Node is this hub's node name.
	Node string
	// TLS is the bridge's tls section with its files loaded (never nil).
	// TLSEnabled is its enabled key: types that choose TLS by a setting
	// use TLS only when it is set; a webhook uses TLS for https URLs.
	TLS        *tls.Config
	TLSEnabled bool
	// Logger is scoped to the bridge (never nil).
	Logger *slog.Logger
	// Check is set when the bridge is only checked, not run.
	Check bool
}

// Parts is a built bridge: a sink the rules feed, a source that feeds the
// hub, or both (an MQTT link). The manager runs the sink under a Runner
// with the bridge's common settings and the source under a SourceRunner.
type Parts struct {
	// Sink receives the records rendered from rule outputs (nil: the type
	// only consumes).
	Sink Sink
	// Templates say how a rule output becomes a Record for Sink.
	Templates Templates
	// Source publishes into the hub (nil: the type only sends).
	Source Source
	// Start, when set, is called once the parts are wired, before the
	// runners start (an MQTT link connects).
	Start func() error
	// MaxBatch, when not 0, caps the records per Send below batch_size
	// (a webhook: a few requests per connection).
	MaxBatch int
	// MaxInflightBatches, when not 0, overrides the Runner's window of a
	// Pipeliner sink (a synchronous Kafka producer: 1).
	MaxInflightBatches int
	// Skip, when set, drops a rule output of message m silently (an MQTT
	// link's loop prevention). m is the event's message.
	Skip func(m *msg.Message) bool
	// Decorate, when set, completes a rendered record (an MQTT link: the
	// message's user properties and this hub's marker). m may be nil.
	Decorate func(m *msg.Message, r *Record)
}

// Templates are a sink's record templates, each with the configuration
// key that names it in errors. Topic is required; an empty Key renders
// the client id, an empty Value the rule output as JSON, an empty
// Timestamp the publish time. Placeholders name event fields
// (EventFields).
type Templates struct {
	Topic, Key, Value, Timestamp TemplateSpec
	// HeadersKey names Headers in errors ("producer.headers").
	HeadersKey string
	// Headers become the record's headers, in order.
	Headers []KeyValue
	// Check, when set, refuses a rendered record at enqueue (a value the
	// sink could never write), so that the rule counts a failed action.
	Check func(*Record) error
}

// TemplateSpec is a template's text and the key that names it in errors.
type TemplateSpec struct {
	Key, Text string
}

// KeyValue is a name and a value template: a Kafka or HTTP header, a
// Redis field.
type KeyValue struct {
	// Key is the name.
	Key string `yaml:"key"`
	// Value is a template.
	Value string `yaml:"value"`
}

// DeadLetterProducer is implemented by sinks that can keep the records
// their target refuses in the target itself (Kafka: another topic), for
// dead_letter.kafka_topic.
type DeadLetterProducer interface {
	// DeadLetter returns a DeadLetter writing to topic, for bridge name.
	DeadLetter(topic, name string) DeadLetter
}

// EventFields are the names a producer template may use: the fields of
// broker events as rules see them (internal/rule's event fields). A
// bridge is shared by every rule that feeds it, so its templates name
// event fields, whose meaning does not depend on a rule's SELECT; a rule
// shapes the record value through the default value (its output as
// JSON). A SELECT column of the same name takes precedence when rendering.
var EventFields = []string{"event", "id", "clientid", "username", "from_clientid", "from_username",
	"topic", "payload", "qos", "retain", "flags", "pub_props", "user_properties", "reason",
	"peerhost", "proto_ver", "proto_name", "keepalive", "clean_start", "listener",
	"publish_received_at", "connected_at", "disconnected_at", "timestamp", "node"}

var registry struct {
	sync.RWMutex
	types map[string]TypeInfo
}

// RegisterType adds a bridge type; call it from the type package's init.
// A duplicate or unnamed type, or one without New, is a programming error
// and panics.
func RegisterType(t TypeInfo) {
	if t.Name == "" || t.New == nil {
		panic(fmt.Sprintf("bridge: RegisterType(%q): name and New are required", t.Name))
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.types == nil {
		registry.types = map[string]TypeInfo{}
	}
	if _, dup := registry.types[t.Name]; dup {
		panic(fmt.Sprintf("bridge: type %q registered twice", t.Name))
	}
	registry.types[t.Name] = t
}

// LookupType returns the registered type name.
func LookupType(name string) (TypeInfo, bool) {
	registry.RLock()
	defer registry.RUnlock()
	t, ok := registry.types[name]
	return t, ok
}

// Types returns the registered types, by name.
func Types() []TypeInfo {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]TypeInfo, 0, len(registry.types))
	for _, t := range registry.types {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b TypeInfo) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}
