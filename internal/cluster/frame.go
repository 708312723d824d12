package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

// frameVersion is the first byte of every forwarded message; a node refuses
// frames of another version (a mixed-version cluster is documented as not
// supported during a rolling upgrade of the frame format).
const frameVersion = 1

const (
	flagRetain = 1 << iota
	flagRetry
	flagExpiry
)

// ErrBadFrame is returned by decodeFrame for bytes that are not a frame.
var ErrBadFrame = errors.New("cluster: malformed forwarded message")

// frame is a forwarded message as it travels between nodes: the message
// (its topic travels in the subject), the sending node and its sequence
// number (for the receiver's duplicate check and the acknowledgement).
type frame struct {
	node  string
	inc   uint64 // the sending node's incarnation
	seq   uint64
	retry bool
	m     *msg.Message
}

// appendFrame encodes f after dst.
func appendFrame(dst []byte, f *frame) []byte {
	m := f.m
	var flags byte
	if m.Retain {
		flags |= flagRetain
	}
	if f.retry {
		flags |= flagRetry
	}
	if !m.ExpiresAt.IsZero() {
		flags |= flagExpiry
	}
	dst = append(dst, frameVersion, flags, m.QoS, m.PayloadFormat)
	dst = binary.AppendUvarint(dst, f.inc)
	dst = binary.AppendUvarint(dst, f.seq)
	for _, s := range [...]string{f.node, m.ClientID, m.Username, m.PeerHost, m.ContentType, m.ResponseTopic} {
		dst = appendString(dst, s)
	}
	dst = appendString(dst, string(m.CorrelationData))
	dst = binary.AppendVarint(dst, m.ReceivedAt.UnixNano())
	if flags&flagExpiry != 0 {
		dst = binary.AppendVarint(dst, m.ExpiresAt.UnixNano())
	}
	dst = binary.AppendUvarint(dst, uint64(len(m.UserProperties)))
	for _, u := range m.UserProperties {
		dst = appendString(appendString(dst, u.Key), u.Value)
	}
	return append(dst, m.Payload...)
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// decodeFrame decodes b (which the message then owns) for topic.
func decodeFrame(b []byte, topicName string) (*frame, error) {
	d := decoder{b: b}
	if len(b) < 4 || b[0] != frameVersion {
		return nil, fmt.Errorf("%w: version", ErrBadFrame)
	}
	flags, qos := b[1], b[2]
	if qos > 2 {
		return nil, fmt.Errorf("%w: qos %d", ErrBadFrame, qos)
	}
	m := &msg.Message{Topic: topicName, QoS: qos, PayloadFormat: b[3], Retain: flags&flagRetain != 0}
	d.b = b[4:]
	f := &frame{m: m, retry: flags&flagRetry != 0, inc: d.uvarint()}
	f.seq = d.uvarint()
	f.node, m.ClientID, m.Username, m.PeerHost = d.str(), d.str(), d.str(), d.str()
	m.ContentType, m.ResponseTopic = d.str(), d.str()
	// Here the message is the cluster's, whatever its origin on the node
	// it entered: it is delivered, not evaluated or forwarded again.
	m.Origin = msg.Origin{Kind: msg.OriginCluster, Name: f.node}
	if cd := d.str(); cd != "" {
		m.CorrelationData = []byte(cd)
	}
	m.ReceivedAt = time.Unix(0, d.varint())
	if flags&flagExpiry != 0 {
		m.ExpiresAt = time.Unix(0, d.varint())
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return nil, fmt.Errorf("%w: %d user properties", ErrBadFrame, n)
	}
	if n > 0 {
		m.UserProperties = make([]msg.UserProperty, n)
		for i := range m.UserProperties {
			m.UserProperties[i] = msg.UserProperty{Key: d.str(), Value: d.str()}
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFrame, d.err)
	}
	m.Payload = d.b
	return f, nil
}

var errShort = errors.New("short")

// decoder reads varints and strings, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShort
	}
	d.b = nil
}
