package bridgemgr

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/internal/rule"
)

// EventFields are the names a producer template may use (bridge.EventFields).
var EventFields = bridge.EventFields

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

// newSinkMapping parses a sink's templates; a syntax error or an unknown
// field is refused with the key and the column.
func newSinkMapping(st bridge.Templates) (*mapping, error) {
	m := &mapping{check: st.Check}
	var err error
	parse := func(k bridge.TemplateSpec, required bool) *rule.Template {
		if err != nil || (k.Text == "" && !required) {
			return nil
		}
		var t *rule.Template
		t, err = parseTemplate(k.Key, k.Text)
		return t
	}
	m.topic = parse(st.Topic, true)
	m.key = parse(st.Key, false)
	m.value = parse(st.Value, false)
	m.timestamp = parse(st.Timestamp, false)
	for i, h := range st.Headers {
		if h.Key == "" && err == nil {
			err = fmt.Errorf("%s.%d.key: required", st.HeadersKey, i)
		}
		m.headers = append(m.headers, headerTpl{key: h.Key,
			value: parse(bridge.TemplateSpec{Key: st.HeadersKey + "." + strconv.Itoa(i) + ".value", Text: h.Value}, true)})
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
	// the key and a templated value share one allocation (a record per
	// message: this is the hot path of a rule feeding a bridge)
	var buf []byte
	hasKey := true
	switch {
	case m.key != nil:
		buf = m.key.Append(nil, out)
		hasKey = len(buf) > 0 // an empty render is no key, as before
	case out.Event != nil:
		buf = append(make([]byte, 0, len(out.Event.ClientID)+valueSizeHint(out)), out.Event.ClientID...)
	default:
		hasKey = false
	}
	keyLen := len(buf)
	if m.value != nil {
		buf = m.value.Append(buf, out)
		r.Value = buf[keyLen:len(buf):len(buf)]
	} else {
		v, err := out.MarshalJSON()
		if err != nil {
			return r, fmt.Errorf("value: %w", err)
		}
		r.Value = v
	}
	if hasKey {
		r.Key = buf[:keyLen:keyLen]
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
		return checked(m.check, r)
	}
	return r, nil
}

// checked returns r after check (which may change it): only records of a
// type with a check pay for the pointer escaping to the heap.
func checked(check func(*bridge.Record) error, r bridge.Record) (bridge.Record, error) {
	err := check(&r)
	return r, err
}

// valueSizeHint is room for a value of about the size of out's payload,
// for the buffer the key starts.
func valueSizeHint(out *rule.Output) int {
	if m := eventMessage(out); m != nil {
		return len(m.Payload) + 16
	}
	return 64
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
