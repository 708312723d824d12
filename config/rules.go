package config

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Rules configures the rule engine (docs/rules.md): its workers and queue,
// and the rules of this file. Rules created through the HTTP API are kept
// in data_dir/rules.json, not here; the rules of this file are read-only
// through the API.
type Rules struct {
	// Workers is deprecated and ignored: rules are evaluated on the
	// goroutine that emitted the event, or from the broker's one event
	// queue (docs/rules.md).
	Workers int `yaml:"workers"`
	// QueueSize is deprecated and ignored, like Workers.
	QueueSize int `yaml:"queue_size"`
	// JQTimeout bounds a jq() call that gives no timeout of its own
	// (EMQX's rule_engine.jq_function_default_timeout).
	JQTimeout Duration `yaml:"jq_timeout"`
	// MaxState bounds each rule's state: open windows (GROUP BY), events
	// buffered by sliding and count windows, and values remembered by
	// deadband and changed; what does not fit is dropped and counted.
	MaxState int `yaml:"max_state"`
	// Schemas are the Protocol Buffers schemas of this file, for
	// schema_decode and schema_encode; schemas created through the HTTP
	// API are kept in data_dir/schemas.json.
	Schemas []Schema `yaml:"schemas"`
	// List holds the rules of this file.
	List []Rule `yaml:"list"`
}

// Schema is one schema of the file (docs/rules.md, "Schemas").
type Schema struct {
	// Name is what schema_decode and schema_encode call it.
	Name string `yaml:"name"`
	// Type is the schema type: protobuf.
	Type string `yaml:"type"`
	// Source is the .proto text; File names a file holding it instead.
	Source string `yaml:"source"`
	// File is a .proto file to read the source from (relative to the
	// working directory).
	File string `yaml:"file"`
	// Description is free text.
	Description string `yaml:"description"`
}

// DefaultSchema returns the settings a new entry of rules.schemas starts
// from.
func DefaultSchema() Schema { return Schema{Type: "protobuf"} }

// Rule is one rule of the file.
type Rule struct {
	// ID names the rule: 1 to 64 letters, digits, '_', '-' or '.'.
	ID string `yaml:"id"`
	// SQL is the statement, e.g. SELECT … FROM "devices/+/state" WHERE ….
	SQL string `yaml:"sql"`
	// Description is free text.
	Description string `yaml:"description"`
	// Enabled rules are evaluated (default true).
	Enabled bool `yaml:"enabled"`
	// Actions receive each output, in order.
	Actions []RuleAction `yaml:"actions"`
}

// RuleAction is one action of a rule. Type selects the action; the other
// keys belong to that type (a key set for a type that does not take it is
// refused when the hub starts).
type RuleAction struct {
	// Type is republish or log (bridges add their own types).
	Type string `yaml:"type"`
	// Topic is the republish topic template, e.g. alarms/${clientid}.
	Topic string `yaml:"topic"`
	// QoS is the republish QoS, 0 to 2.
	QoS int `yaml:"qos"`
	// Retain sets the republished message's retain flag.
	Retain bool `yaml:"retain"`
	// Payload is the republish payload template ("": the output as JSON).
	Payload string `yaml:"payload"`
	// Bridge is the kafka_producer bridge a "bridge" action feeds (bridges.go).
	Bridge string `yaml:"bridge"`
	// Stream is the upstream stream an "upstream" action feeds ("": the
	// default stream; upstream.go).
	Stream string `yaml:"stream"`
}

// DefaultRule returns the settings a new entry of rules.list starts from.
func DefaultRule() Rule { return Rule{Enabled: true} }

func defaultRules() Rules {
	return Rules{Workers: 2, QueueSize: 1024, JQTimeout: Duration(10 * time.Second), MaxState: 100_000}
}

func init() {
	elemDefaults[reflect.TypeFor[Rule]()] = func() any { return DefaultRule() }
	elemDefaults[reflect.TypeFor[Schema]()] = func() any { return DefaultSchema() }
}

var ruleID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// validate checks the section; statements are compiled (and refused with
// their line:col) when the hub starts, since this package knows no SQL.
func (r *Rules) validate(v *checker) {
	v.between("rules.workers", r.Workers, 1, 256)
	v.between("rules.queue_size", r.QueueSize, 1, 1<<20)
	v.duration("rules.jq_timeout", r.JQTimeout, time.Millisecond, time.Hour)
	v.between("rules.max_state", r.MaxState, 1, 100_000_000)
	r.validateSchemas(v)
	seen := map[string]string{}
	for i, rule := range r.List {
		key := "rules.list." + strconv.Itoa(i)
		v.uniqueID(seen, key+".id", "rule id", rule.ID)
		if strings.TrimSpace(rule.SQL) == "" {
			v.bad(key+".sql", "required")
		}
		for j, a := range rule.Actions {
			akey := key + ".actions." + strconv.Itoa(j)
			if a.Type == "" {
				v.bad(akey+".type", "required")
			}
			if a.Type == "republish" && a.Topic == "" {
				v.bad(akey+".topic", "required for republish")
			}
			v.between(akey+".qos", a.QoS, 0, 2)
		}
	}
}

// validateSchemas checks the schemas' names and that each has one source;
// the sources are compiled (and refused with their line and column) when
// the hub starts.
func (r *Rules) validateSchemas(v *checker) {
	seen := map[string]string{}
	for i, s := range r.Schemas {
		key := "rules.schemas." + strconv.Itoa(i)
		v.uniqueID(seen, key+".name", "schema name", s.Name)
		v.oneOf(key+".type", s.Type, "protobuf")
		switch {
		case s.Source == "" && s.File == "":
			v.bad(key+".source", "required (or file)")
		case s.Source != "" && s.File != "":
			v.bad(key+".file", "give source or file, not both")
		case s.File != "":
			v.file(key+".file", s.File, true)
		}
	}
}

// uniqueID checks that id, at key, is 1 to 64 letters, digits, '_', '-'
// or '.', and not already in seen (id → key of its first use).
func (v *checker) uniqueID(seen map[string]string, key, what, id string) {
	switch prev, dup := seen[id]; {
	case !ruleID.MatchString(id):
		v.bad(key, "%q: want 1 to 64 letters, digits, '_', '-' or '.'", id)
	case dup:
		v.bad(key, "duplicate %s %q (also %s)", what, id, prev)
	default:
		seen[id] = key
	}
}
