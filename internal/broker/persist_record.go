package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// Record formats (docs/persistence.md). A message block is
//
//	flags(1: bit0 retain) received_at(i64 ns) expires_at(i64 ns, 0: none)
//	client_id username peer_host origin (uvarint length + bytes each)
//	the message as a v5 QoS 0 PUBLISH packet (fixed header included), so
//	every MQTT 5 property round-trips through the packet codec.
//
// A queue record (q/<client id>\x00<seq>) is
//
//	version(1)=1 flags(1: bit0 retain as delivered, bit1 PUBREC received)
//	qos(1) packet_id(2, 0: not sent) n_sub_ids(uvarint) sub_ids(uvarint…)
//	message block
//
// A retained record (r/<topic>) is version(1)=1 then a message block.
const recordVersion = 1

var errRecord = errors.New("malformed record")

// queuedRecord is a decoded queue record.
type queuedRecord struct {
	d        delivery
	pid      uint16
	released bool
}

func encodeQueued(d *delivery, pid uint16, released bool) ([]byte, error) {
	b := make([]byte, 0, 64+len(d.m.Topic)+len(d.m.Payload))
	var flags byte
	if d.retain {
		flags |= 1
	}
	if released {
		flags |= 2
	}
	b = append(b, recordVersion, flags, d.qos)
	b = binary.BigEndian.AppendUint16(b, pid)
	b = binary.AppendUvarint(b, uint64(len(d.subIDs)))
	for _, id := range d.subIDs {
		b = binary.AppendUvarint(b, uint64(id))
	}
	return appendMessage(b, d.m)
}

func decodeQueued(b []byte) (queuedRecord, error) {
	var r queuedRecord
	if len(b) < 5 || b[0] != recordVersion || b[1]&^3 != 0 || b[2] > 2 || b[2] == 0 {
		return r, fmt.Errorf("queue record header: %w", errRecord)
	}
	r.d.retain, r.released, r.d.qos = b[1]&1 != 0, b[1]&2 != 0, b[2]
	r.pid = binary.BigEndian.Uint16(b[3:])
	rd := recReader{b: b[5:]}
	n := rd.uvarint()
	if n > 64 {
		return r, fmt.Errorf("queue record: %d subscription ids: %w", n, errRecord)
	}
	for range n {
		id := rd.uvarint()
		if id == 0 || id > 268_435_455 {
			rd.err = errRecord
		}
		r.d.subIDs = append(r.d.subIDs, uint32(id))
	}
	if rd.err != nil {
		return r, fmt.Errorf("queue record subscription ids: %w", rd.err)
	}
	m, err := decodeMessage(rd.b)
	if err != nil {
		return r, err
	}
	r.d.m = m
	return r, nil
}

func encodeRetained(m *msg.Message) ([]byte, error) {
	return appendMessage([]byte{recordVersion}, m)
}

func decodeRetained(b []byte) (*msg.Message, error) {
	if len(b) < 1 || b[0] != recordVersion {
		return nil, fmt.Errorf("retained record version: %w", errRecord)
	}
	return decodeMessage(b[1:])
}

func appendMessage(b []byte, m *msg.Message) ([]byte, error) {
	var flags byte
	if m.Retain {
		flags = 1
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(m.ReceivedAt.UnixNano()))
	var exp int64
	if !m.ExpiresAt.IsZero() {
		exp = m.ExpiresAt.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(exp))
	for _, s := range [...]string{m.ClientID, m.Username, m.PeerHost, m.Origin.String()} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	p := packet.Publish{Retain: m.Retain, Topic: m.Topic, Payload: m.Payload}
	setMessageProps(&p.Properties, m)
	out, err := p.AppendTo(b, packet.V5)
	if err != nil {
		return nil, fmt.Errorf("encode stored message: %w", err)
	}
	return out, nil
}

// decodeMessage decodes a message block; the message aliases b.
func decodeMessage(b []byte) (*msg.Message, error) {
	rd := recReader{b: b}
	flags := rd.byte()
	recv, exp := int64(rd.u64()), int64(rd.u64())
	var strs [4]string
	for i := range strs {
		strs[i] = rd.str()
	}
	if rd.err != nil || flags&^1 != 0 {
		return nil, fmt.Errorf("message header: %w", errRecord)
	}
	first := rd.byte()
	n, err := packet.ReadVarInt(bytes.NewReader(rd.b))
	if rd.err != nil || err != nil {
		return nil, fmt.Errorf("message packet length: %w", errRecord)
	}
	body := rd.b[packet.VarIntLen(n):]
	if len(body) != n {
		return nil, fmt.Errorf("message packet: %d bytes, want %d: %w", len(body), n, errRecord)
	}
	fh, err := packet.ParseFixedHeader(first, n)
	if err != nil || fh.Type != packet.TypePublish {
		return nil, fmt.Errorf("message packet type: %w", errRecord)
	}
	var p packet.Publish
	if err := p.Decode(fh, body, packet.V5); err != nil {
		return nil, fmt.Errorf("message packet: %w", err)
	}
	if p.Topic == "" || p.QoS != 0 || p.Retain != (flags&1 != 0) {
		return nil, fmt.Errorf("message packet fields: %w", errRecord)
	}
	m := messageFromPublish(&p)
	m.ClientID, m.Username, m.PeerHost, m.Origin = strs[0], strs[1], strs[2], msg.ParseOrigin(strs[3])
	m.ReceivedAt = time.Unix(0, recv)
	if exp != 0 {
		m.ExpiresAt = time.Unix(0, exp)
	}
	return m, nil
}

// recReader reads a record; the first failure sticks in err.
type recReader struct {
	b   []byte
	err error
}

func (r *recReader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errRecord
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *recReader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errRecord
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *recReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) str() string {
	n := r.uvarint()
	if r.err != nil || n > math.MaxUint16 || n > uint64(len(r.b)) {
		r.err = errRecord
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
