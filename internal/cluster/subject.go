package cluster

import (
	"errors"
	"fmt"
	"strings"
)

// The subject spaces of the cluster. Messages travel on topicPrefix plus the
// encoded MQTT topic, so that NATS interest (a node's subscriptions on the
// encoded filters) decides which nodes get them.
const (
	topicPrefix = "iothub.t."
	escape      = '~'
	hexDigits   = "0123456789ABCDEF"
)

// ErrBadSubject is returned by TopicOf for a subject no topic encodes to.
var ErrBadSubject = errors.New("cluster: not an encoded topic subject")

// needsEscape reports whether b cannot stand for itself in a NATS subject
// token: the separator, the wildcards, white space and control bytes, and
// the escape character itself.
func needsEscape(b byte) bool {
	switch b {
	case '.', '*', '>', escape, 0x7f:
		return true
	}
	return b <= ' '
}

// appendLevel appends the token of one MQTT topic level: an empty level is
// a lone "~", any other byte that cannot stand for itself is "~XX" (hex).
// A literal "+" or "#" inside a topic name cannot occur (MQTT forbids them),
// so they need no escape.
func appendLevel(dst []byte, level string) []byte {
	if level == "" {
		return append(dst, escape)
	}
	for i := 0; i < len(level); i++ {
		b := level[i]
		if needsEscape(b) {
			dst = append(dst, escape, hexDigits[b>>4], hexDigits[b&0xf])
			continue
		}
		dst = append(dst, b)
	}
	return dst
}

// SubjectOf returns the NATS subject a message on MQTT topic name travels
// on. Each topic level becomes one subject token; TopicOf reverses it.
func SubjectOf(name string) string {
	dst := make([]byte, 0, len(topicPrefix)+len(name)+8)
	dst = append(dst, topicPrefix...)
	for {
		level, rest, more := strings.Cut(name, "/")
		dst = appendLevel(dst, level)
		if !more {
			return string(dst)
		}
		dst = append(dst, '.')
		name = rest
	}
}

// TopicOf returns the MQTT topic name subject was made from by SubjectOf.
func TopicOf(subject string) (string, error) {
	rest, ok := strings.CutPrefix(subject, topicPrefix)
	if !ok || rest == "" {
		return "", fmt.Errorf("%w: %q", ErrBadSubject, subject)
	}
	var b strings.Builder
	b.Grow(len(rest))
	first := true
	for {
		tok, tail, more := strings.Cut(rest, ".")
		if !first {
			b.WriteByte('/')
		}
		first = false
		if err := decodeLevel(&b, tok); err != nil {
			return "", fmt.Errorf("%w: %q: %w", ErrBadSubject, subject, err)
		}
		if !more {
			return b.String(), nil
		}
		rest = tail
	}
}

var errBadToken = errors.New("bad token")

// decodeLevel writes the MQTT level of one subject token.
func decodeLevel(b *strings.Builder, tok string) error {
	if tok == string(escape) {
		return nil
	}
	if tok == "" {
		return errBadToken
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != escape {
			if needsEscape(c) || c == '+' || c == '#' {
				return errBadToken
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(tok) {
			return errBadToken
		}
		hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
		if hi < 0 || lo < 0 {
			return errBadToken
		}
		v := byte(hi<<4 | lo)
		if !needsEscape(v) {
			return errBadToken // not canonical: one topic, one subject
		}
		b.WriteByte(v)
		i += 2
	}
	return nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// SubjectsOf returns the NATS subjects whose interest covers MQTT filter
// (without any $share/ prefix): "+" becomes "*", and "#" becomes ">" plus,
// because "a/#" also matches "a", the parent subject itself. The subjects
// never overlap, so a message matches at most one of them. Subjects may
// cover more topics than the filter (MQTT's "$" rule); the receiving node's
// own trie has the last word.
func SubjectsOf(filter string) []string {
	dst := make([]byte, 0, len(topicPrefix)+len(filter)+8)
	dst = append(dst, topicPrefix...)
	for {
		level, rest, more := strings.Cut(filter, "/")
		switch level {
		case "+":
			dst = append(dst, '*')
		case "#":
			parent := string(dst[:len(dst)-1]) // without the trailing "."
			all := string(append(dst, '>'))
			if parent+"." == topicPrefix {
				return []string{all}
			}
			return []string{all, parent}
		default:
			dst = appendLevel(dst, level)
		}
		if !more {
			return []string{string(dst)}
		}
		dst = append(dst, '.')
		filter = rest
	}
}
