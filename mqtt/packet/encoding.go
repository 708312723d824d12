package packet

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
	"unsafe"
)

// decoder reads the primitive MQTT data types from a packet body. It is
// sticky: after the first error every read returns a zero value and err keeps
// that first error. Strings and byte slices alias b.
type decoder struct {
	b   []byte
	off int
	err *Error
	pkt string // packet name for error messages, e.g. "publish"
}

func (d *decoder) fail(e *Error) {
	if d.err == nil {
		d.err = e
	}
}

// need reports whether n more bytes are available, failing with a truncation
// error naming what otherwise.
func (d *decoder) need(n int, what string) bool {
	if d.err != nil {
		return false
	}
	if n > len(d.b)-d.off {
		d.fail(malformedf("%s: %s: truncated", d.pkt, what))
		return false
	}
	return true
}

func (d *decoder) u8(what string) byte {
	if !d.need(1, what) {
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *decoder) u16(what string) uint16 {
	if !d.need(2, what) {
		return 0
	}
	v := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v
}

func (d *decoder) u32(what string) uint32 {
	if !d.need(4, what) {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *decoder) varInt(what string) int {
	if d.err != nil {
		return 0
	}
	v, n, err := decodeVarInt(d.b[d.off:])
	if err != nil {
		d.fail(&Error{Code: err.Code, Err: fmt.Errorf("%s: %s: %w", d.pkt, what, err.Err)})
		return 0
	}
	if n == 0 {
		d.fail(malformedf("%s: %s: truncated", d.pkt, what))
		return 0
	}
	d.off += n
	return v
}

// binary reads two-byte-length-prefixed binary data; an empty value is nil.
// The result aliases the body and has its capacity capped at its length.
func (d *decoder) binary(what string) []byte {
	n := int(d.u16(what))
	if n == 0 || !d.need(n, what) {
		return nil
	}
	b := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// string reads an MQTT UTF-8 encoded string without copying it.
func (d *decoder) string(what string) string {
	n := int(d.u16(what))
	if n == 0 || !d.need(n, what) {
		return ""
	}
	s := unsafe.String(&d.b[d.off], n) //nolint:gosec // zero-copy decode: strings alias the packet body, which the packet owns
	d.off += n
	if !validString(s) {
		d.fail(malformedf("%s: %s: invalid UTF-8 or U+0000", d.pkt, what))
		return ""
	}
	return s
}

// rest returns the unread bytes (nil when none) and consumes them.
func (d *decoder) rest() []byte {
	if d.err != nil || d.off == len(d.b) {
		return nil
	}
	b := d.b[d.off:len(d.b):len(d.b)]
	d.off = len(d.b)
	return b
}

// remaining returns the number of unread bytes.
func (d *decoder) remaining() int { return len(d.b) - d.off }

// finish fails on trailing bytes and returns the first error, as an error
// interface value that is nil when there was none.
func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail(malformedf("%s: %d trailing bytes", d.pkt, len(d.b)-d.off))
	}
	if d.err != nil {
		return d.err
	}
	return nil
}

// validString reports whether s is well-formed UTF-8 without U+0000
// (utf8.ValidString already refuses the surrogates U+D800–U+DFFF).
func validString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			return utf8.ValidString(s[i:]) && !containsNul(s[i:])
		}
	}
	return true
}

func containsNul(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// strLen validates s for encoding and returns its encoded length.
func strLen(s, what string) (int, error) {
	if len(s) > 0xffff {
		return 0, encodeErrorf("%s: string of %d bytes longer than 65535", what, len(s))
	}
	if !validString(s) {
		return 0, encodeErrorf("%s: invalid UTF-8 or U+0000", what)
	}
	return 2 + len(s), nil
}

// binLen validates b for encoding and returns its encoded length.
func binLen(b []byte, what string) (int, error) {
	if len(b) > 0xffff {
		return 0, encodeErrorf("%s: binary data of %d bytes longer than 65535", what, len(b))
	}
	return 2 + len(b), nil
}

func appendUint16(dst []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(dst, v) }

func appendUint32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }

func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBinary(dst, b []byte) []byte {
	dst = appendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
