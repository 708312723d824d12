package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iothub-dev/iothub/msg"
)

// decodeBody decodes the request body, one JSON value, strictly (unknown
// fields are refused) into v. Errors are *Error: body_too_large,
// bad_request for malformed JSON, invalid_field naming the field for a
// value of the wrong type or an unknown field.
func decodeBody(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return jsonError(err)
		}
		return errorf(http.StatusBadRequest, CodeBadRequest, "the body holds more than one JSON value")
	}
	return nil
}

// jsonError maps an encoding/json error to an *Error.
func jsonError(err error) error {
	var (
		syn     *json.SyntaxError
		typ     *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
		apiErr  *Error
		unknown = "json: unknown field "
	)
	switch {
	case errors.As(err, &apiErr):
		return apiErr // from a field's UnmarshalJSON
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge,
			Message: fmt.Sprintf("the body is over the %d-byte limit (api.max_body_bytes)", tooBig.Limit), Err: err}
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, CodeBadRequest, "the body is empty: a JSON object is expected")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, CodeBadRequest, "malformed JSON: the body ends too early")
	case errors.As(err, &syn):
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn), Err: err}
	case errors.As(err, &typ):
		field := fieldPath(typ.Field)
		if field == "" {
			return errorf(http.StatusBadRequest, CodeBadRequest, "the body must be %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return badField(field, "expected %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), unknown):
		field := strings.Trim(strings.TrimPrefix(err.Error(), unknown), `"`)
		return badField(field, "unknown field")
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "malformed JSON: " + err.Error(), Err: err}
}

// fieldPath drops the names of embedded structs ("message") that
// encoding/json puts in a field path.
func fieldPath(p string) string {
	parts := strings.Split(p, ".")
	parts = slices.DeleteFunc(parts, func(s string) bool { return s == "message" })
	return strings.Join(parts, ".")
}

// jsonKind names a Go kind as a JSON type.
func jsonKind(k string) string {
	switch {
	case k == "uint8":
		return "a number from 0 to 255"
	case k == "uint32":
		return "a number from 0 to 4294967295"
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "a number"
	case k == "string":
		return "a string"
	case k == "bool":
		return "true or false"
	case k == "slice", k == "array":
		return "an array"
	}
	return "an object"
}

// Properties are the MQTT 5 properties a published message may carry.
type Properties struct {
	// UserProperties are key/value pairs (sent in key order).
	UserProperties map[string]string `json:"user_properties,omitempty"`
	ContentType    string            `json:"content_type,omitempty"`
	// MessageExpiry is the message expiry interval in seconds (0: none).
	MessageExpiry uint32 `json:"message_expiry,omitempty"`
	ResponseTopic string `json:"response_topic,omitempty"`
	// CorrelationData is plain text, or base64 when
	// CorrelationEncoding is "base64".
	CorrelationData     string `json:"correlation_data,omitempty"`
	CorrelationEncoding string `json:"correlation_encoding,omitempty"`
	// PayloadFormat is 1 when the payload is UTF-8 text (0: bytes).
	PayloadFormat byte `json:"payload_format_indicator,omitempty"`
}

// message is what publish, command and rpc requests share: the payload,
// its encoding and the MQTT options.
type message struct {
	// Payload is a JSON string (plain text or base64 by
	// PayloadEncoding), or any other JSON value, sent as its JSON text.
	Payload         json.RawMessage `json:"payload"`
	PayloadEncoding string          `json:"payload_encoding"`
	QoS             *byte           `json:"qos"`
	Retain          bool            `json:"retain"`
	Properties      *Properties     `json:"properties"`
}

// toMessage validates the shared fields and builds the hub message for
// topic with defaultQoS when qos is not given.
func (m *message) toMessage(topicName string, defaultQoS byte, now time.Time) (*msg.Message, error) {
	payload, err := decodePayload(m.Payload, m.PayloadEncoding)
	if err != nil {
		return nil, err
	}
	qos := defaultQoS
	if m.QoS != nil {
		qos = *m.QoS
	}
	if qos > 2 {
		return nil, badField("qos", "%d: must be 0, 1 or 2", qos)
	}
	out := &msg.Message{Topic: topicName, Payload: payload, QoS: qos, Retain: m.Retain, ReceivedAt: now, Origin: msg.Origin{Kind: msg.OriginAPI}}
	if err := m.Properties.apply(out, now); err != nil {
		return nil, err
	}
	return out, nil
}

// decodePayload returns the payload bytes: a JSON string is plain text or
// base64 by encoding; any other JSON value is taken as its JSON text
// (compacted); a missing payload is empty.
func decodePayload(raw json.RawMessage, encoding string) ([]byte, error) {
	if encoding != "" && encoding != "plain" && encoding != "base64" {
		return nil, badField("payload_encoding", "%q: must be plain or base64", encoding)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return []byte{}, nil
	}
	if raw[0] != '"' {
		if encoding == "base64" {
			return nil, badField("payload", "base64 payload must be a JSON string")
		}
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return nil, badField("payload", "not valid JSON: %v", err)
		}
		return b.Bytes(), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, badField("payload", "not a valid JSON string: %v", err)
	}
	if encoding != "base64" {
		return []byte(s), nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, badField("payload", "not valid base64: %v", err)
	}
	return b, nil
}

// apply copies the properties to m, validating them.
func (p *Properties) apply(m *msg.Message, now time.Time) error {
	if p == nil {
		return nil
	}
	if p.PayloadFormat > 1 {
		return badField("properties.payload_format_indicator", "%d: must be 0 or 1", p.PayloadFormat)
	}
	if p.PayloadFormat == 1 && !utf8.Valid(m.Payload) {
		return badField("properties.payload_format_indicator", "1 (UTF-8) but the payload is not valid UTF-8")
	}
	if p.ResponseTopic != "" && (strings.ContainsAny(p.ResponseTopic, "+#") || !utf8.ValidString(p.ResponseTopic)) {
		return badField("properties.response_topic", "%q: must be a topic name without wildcards", p.ResponseTopic)
	}
	corr, err := decodeText(p.CorrelationData, p.CorrelationEncoding, "properties.correlation")
	if err != nil {
		return err
	}
	m.ContentType, m.ResponseTopic, m.CorrelationData, m.PayloadFormat = p.ContentType, p.ResponseTopic, corr, p.PayloadFormat
	if p.MessageExpiry > 0 {
		m.ExpiresAt = now.Add(time.Duration(p.MessageExpiry) * time.Second)
	}
	keys := make([]string, 0, len(p.UserProperties))
	for k := range p.UserProperties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		m.UserProperties = append(m.UserProperties, msg.UserProperty{Key: k, Value: p.UserProperties[k]})
	}
	return nil
}

// decodeText decodes s as plain text or base64 (field_encoding).
func decodeText(s, encoding, field string) ([]byte, error) {
	switch encoding {
	case "", "plain":
		if s == "" {
			return nil, nil
		}
		return []byte(s), nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, badField(field+"_data", "not valid base64: %v", err)
		}
		return b, nil
	}
	return nil, badField(field+"_encoding", "%q: must be plain or base64", encoding)
}

// encodedPayload is a payload in a response: plain text when it is valid
// UTF-8, base64 otherwise.
func encodedPayload(b []byte) (payload, encoding string) {
	if utf8.Valid(b) {
		return string(b), "plain"
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// parseTimeout reads a timeout field ("5s", "1500ms"; empty: def),
// bounded by limit.
func parseTimeout(s string, def, limit time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, badField("timeout", "%q: must be a positive duration such as \"5s\" or \"500ms\"", s)
	}
	if d > limit {
		return 0, badField("timeout", "%s is over the %s limit (api.max_command_timeout)", d, limit)
	}
	return d, nil
}
