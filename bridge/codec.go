package bridge

import (
	"encoding/binary"
	"errors"
	"time"
)

// recordVersion is the first byte of an encoded record.
const recordVersion = 1

// errBadRecord is returned by DecodeRecord for bytes that are not a record.
var errBadRecord = errors.New("bridge: malformed queued record")

// EncodeRecord appends the durable-queue encoding of r to dst: a version
// byte, the time (Unix nanoseconds, varint), then topic, key, value and
// headers, each length-prefixed (uvarint). A nil key is told apart from an
// empty one.
func EncodeRecord(dst []byte, r *Record) []byte {
	dst = append(dst, recordVersion)
	var t int64
	if !r.Time.IsZero() {
		t = r.Time.UnixNano()
	}
	dst = binary.AppendVarint(dst, t)
	dst = appendBytes(dst, []byte(r.Topic))
	if r.Key == nil {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1)
		dst = appendBytes(dst, r.Key)
	}
	dst = appendBytes(dst, r.Value)
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendBytes(dst, []byte(h.Key))
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// DecodeRecord decodes what EncodeRecord wrote. The record's byte slices
// alias b. It never panics; malformed input gives an error.
func DecodeRecord(b []byte) (Record, error) {
	d := decoder{b: b}
	if d.byte() != recordVersion {
		return Record{}, errBadRecord
	}
	var r Record
	if t := d.varint(); t != 0 {
		r.Time = time.Unix(0, t)
	}
	r.Topic = string(d.bytes())
	if d.byte() == 1 {
		r.Key = d.bytes()
		if r.Key == nil {
			r.Key = []byte{}
		}
	}
	r.Value = d.bytes()
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return Record{}, errBadRecord
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := string(d.bytes())
		r.Headers = append(r.Headers, Header{Key: k, Value: d.bytes()})
	}
	if d.err != nil || len(d.b) != 0 {
		return Record{}, errBadRecord
	}
	return r, nil
}

// decoder reads the fields of an encoded record, remembering the first
// error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errBadRecord
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errBadRecord
		return nil
	}
	if n == 0 {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
