package thing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/iothub-dev/iothub/msg"
)

// The reserved topic prefixes.
const (
	// Prefix starts every thing topic: $aws/things/{thing}/shadow/… and
	// $aws/things/{thing}/jobs/….
	Prefix = "$aws/things/"
	// Reserved starts every topic the device services own.
	Reserved = "$aws/"
	// EventsPrefix starts the registry, shadow and job event topics that
	// rules read ($aws/events/thing/{thing}/created, …).
	EventsPrefix = "$aws/events/"
)

// Limits of names.
const (
	// MaxNameLen is the longest thing name, in bytes (AWS: 128).
	MaxNameLen = 128
	// MaxShadowNameLen is the longest shadow name, in bytes (AWS: 64).
	MaxShadowNameLen = 64
)

// ErrBadName is returned (wrapped) for a thing, shadow or job name that
// cannot be used.
var ErrBadName = errors.New("thing: invalid name")

// ValidName checks a thing, shadow or job name of at most max bytes: not
// empty, valid UTF-8, no '/', '+', '#' (it is one topic level), no control
// or space characters. It is more lenient than AWS's [a-zA-Z0-9:_-]+ so
// that any sensible MQTT client id is a thing name.
func ValidName(name string, max int) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > max:
		return fmt.Errorf("%w: %q is longer than %d bytes", ErrBadName, name, max)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not UTF-8", ErrBadName)
	}
	for _, r := range name {
		if r == '/' || r == '+' || r == '#' || unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w: %q holds %q", ErrBadName, name, r)
		}
	}
	return nil
}

// Topic is a parsed thing topic: $aws/things/{Thing}/{Service}/{Rest}.
type Topic struct {
	Thing   string
	Service string // "shadow", "jobs", …
	Rest    string // what follows "{Service}/" ("" when nothing does)
}

// Parse splits a thing topic; ok is false when topic is not one.
func Parse(topic string) (t Topic, ok bool) {
	rest, ok := strings.CutPrefix(topic, Prefix)
	if !ok {
		return Topic{}, false
	}
	t.Thing, rest, ok = strings.Cut(rest, "/")
	if !ok || t.Thing == "" {
		return Topic{}, false
	}
	t.Service, t.Rest, _ = strings.Cut(rest, "/")
	if t.Service == "" {
		return Topic{}, false
	}
	return t, true
}

// Publisher publishes a message into the hub as a device's PUBLISH would
// be routed; *broker.Server implements it.
type Publisher interface {
	Publish(ctx context.Context, m *msg.Message) (int, error)
}

// Publish sends payload on topic at QoS 1 from the device service named
// service ("shadow", "jobs", "registry"), bounded by a 10-second timeout.
func Publish(p Publisher, topic string, payload []byte, service string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.Publish(ctx, &msg.Message{Topic: topic, Payload: payload, QoS: 1, Origin: msg.Origin{Kind: msg.OriginDevice, Name: service}, PayloadFormat: 1, ContentType: "application/json"})
	if err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}
