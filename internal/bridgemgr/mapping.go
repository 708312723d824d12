package bridgemgr

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/rule"
)

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

// mapping renders rule outputs into records for one producer bridge.
type mapping struct {
	topic     *rule.Template
	key       *rule.Template // nil: the client id
	value     *rule.Template // nil: the output as JSON
	timestamp *rule.Template // nil: the publish time
	headers   []headerTpl
	check     func(*bridge.Record) error // nil: none; refuses a record at enqueue
}

type headerTpl struct {
	key   string
	value *rule.Template
}

// newMapping parses the producer's templates; a syntax error or an
// unknown field is refused with the key and the column.
func newMapping(p *config.KafkaProducer) (*mapping, error) {
	return newSinkMapping(sinkTemplates{topic: keyed{"producer.topic", p.Topic},
		key: keyed{"producer.key", p.Key}, value: keyed{"producer.value", p.Value},
		timestamp: keyed{"producer.timestamp", p.Timestamp}, headersKey: "producer.headers", headers: p.Headers})
}

// keyed is a template's text and its key in the configuration.
type keyed struct{ key, text string }

// sinkTemplates are the record templates of one sink bridge, each with its
// configuration key for errors: Topic is required, the others optional.
// Each sink type fills them from its own section (Kafka: producer.*).
type sinkTemplates struct {
	topic, key, value, timestamp keyed
	headersKey                   string
	headers                      []config.KafkaHeader
	// check, when set, refuses a rendered record at enqueue (a value the
	// sink could never write), so the rule counts a failed action.
	check func(*bridge.Record) error
}

// newSinkMapping parses a sink's templates; a syntax error or an unknown
// field is refused with the key and the column.
func newSinkMapping(st sinkTemplates) (*mapping, error) {
	m := &mapping{check: st.check}
	var err error
	parse := func(k keyed, required bool) *rule.Template {
		if err != nil || (k.text == "" && !required) {
			return nil
		}
		var t *rule.Template
		t, err = parseTemplate(k.key, k.text)
		return t
	}
	m.topic = parse(st.topic, true)
	m.key = parse(st.key, false)
	m.value = parse(st.value, false)
	m.timestamp = parse(st.timestamp, false)
	for i, h := range st.headers {
		if h.Key == "" && err == nil {
			err = fmt.Errorf("%s.%d.key: required", st.headersKey, i)
		}
		m.headers = append(m.headers, headerTpl{key: h.Key, value: parse(keyed{st.headersKey + "." + strconv.Itoa(i) + ".value", h.Value}, true)})
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// parseTemplate parses s with the rule engine's template syntax and
// checks the root of every placeholder against EventFields.
func parseTemplate(key, s string) (*rule.Template, error) {
	if s == "" {
		return nil, fmt.Errorf("%s: required", key)
	}
	t, err := rule.ParseTemplate(s)
	if err != nil {
		return nil, fmt.Errorf("%s: template %q: %w", key, s, err)
	}
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], "$$") {
			i++
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			continue
		}
		j := i + 2
		for j < len(s) && s[j] == ' ' {
			j++
		}
		k := j
		for k < len(s) && (s[k] == '_' || s[k] >= 'a' && s[k] <= 'z' || s[k] >= 'A' && s[k] <= 'Z' || s[k] >= '0' && s[k] <= '9') {
			k++
		}
		if name := s[j:k]; !slices.Contains(EventFields, name) {
			col := utf8.RuneCountInString(s[:j]) + 1
			return nil, fmt.Errorf("%s: template %q, column %d: unknown field %q (known: %s)",
				key, s, col, name, strings.Join(EventFields, ", "))
		}
	}
	return t, nil
}

// record renders out.
func (m *mapping) record(out *rule.Output) (bridge.Record, error) {
	r := bridge.Record{Topic: m.topic.Render(out)}
	if r.Topic == "" {
		return r, fmt.Errorf("topic template %q rendered empty", m.topic.String())
	}
	switch {
	case m.key != nil:
		r.Key = m.key.Append(nil, out)
	case out.Event != nil:
		r.Key = []byte(out.Event.ClientID)
	}
	if m.value != nil {
		r.Value = m.value.Append(nil, out)
	} else {
		v, err := out.MarshalJSON()
		if err != nil {
			return r, fmt.Errorf("value: %w", err)
		}
		r.Value = v
	}
	r.Time = publishTime(out)
	if m.timestamp != nil {
		s := m.timestamp.Render(out)
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return r, fmt.Errorf("timestamp template %q gave %q, not milliseconds", m.timestamp.String(), s)
		}
		r.Time = time.UnixMilli(ms)
	}
	for _, h := range m.headers {
		r.Headers = append(r.Headers, bridge.Header{Key: h.key, Value: h.value.Append(nil, out)})
	}
	if m.check != nil {
		if err := m.check(&r); err != nil {
			return r, err
		}
	}
	return r, nil
}

// publishTime is when the event's message was published (for a delivery
// or ack event too), else the event's time.
func publishTime(out *rule.Output) time.Time {
	if out.Event == nil {
		return time.Now()
	}
	if m := out.Event.Message; m != nil && !m.ReceivedAt.IsZero() {
		return m.ReceivedAt
	}
	if !out.Event.Time.IsZero() {
		return out.Event.Time
	}
	return time.Now()
}
