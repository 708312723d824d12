package packet

import (
	"errors"
	"fmt"
	"io"
)

// VarIntLen returns the number of bytes the variable byte integer n takes on
// the wire (1 to 4), or 0 when n is negative or larger than MaxVarInt.
func VarIntLen(n int) int {
	switch {
	case n < 0 || n > MaxVarInt:
		return 0
	case n < 1<<7:
		return 1
	case n < 1<<14:
		return 2
	case n < 1<<21:
		return 3
	}
	return 4
}

// AppendVarInt appends n as an MQTT variable byte integer. The caller keeps
// n within 0..MaxVarInt; other values are clamped to that range so the
// output is always a valid encoding.
func AppendVarInt(dst []byte, n int) []byte {
	n = min(max(n, 0), MaxVarInt)
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

// ReadVarInt reads an MQTT variable byte integer from r. An encoding longer
// than four bytes, or not in its shortest form, is a *Error with
// MalformedPacket. An EOF before the first byte is returned as io.EOF, one in
// the middle as io.ErrUnexpectedEOF; other read errors are returned as they
// are.
func ReadVarInt(r io.ByteReader) (int, error) {
	n := 0
	for i := range 4 {
		b, err := r.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		n |= int(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if b == 0 && i > 0 {
				return 0, errVarIntNotMinimal
			}
			return n, nil
		}
	}
	return 0, errVarIntTooLong
}

var (
	errVarIntTooLong = &Error{Code: MalformedPacket,
		Err: fmt.Errorf("variable byte integer longer than 4 bytes: %w", ErrMalformed)}
	errVarIntNotMinimal = &Error{Code: MalformedPacket,
		Err: fmt.Errorf("variable byte integer not in its shortest form: %w", ErrMalformed)}
)

// DecodeVarInt decodes the variable byte integer at the start of b (a
// remaining length in a buffered fixed header, say) and returns its value
// and its length in bytes. While b holds only the start of an integer it
// returns n == 0 and a nil error; an integer longer than four bytes or not
// in its shortest form is a *Error with MalformedPacket.
func DecodeVarInt(b []byte) (val, n int, err error) {
	val, n, e := decodeVarInt(b)
	if e != nil {
		return 0, 0, e
	}
	return val, n, nil
}

// decodeVarInt decodes a variable byte integer at the start of b and returns
// its value and length. A truncated integer returns n == 0 and a nil error
// pointer is never returned with n == 0.
func decodeVarInt(b []byte) (val, n int, err *Error) {
	for i := range 4 {
		if i >= len(b) {
			return 0, 0, nil
		}
		c := b[i]
		val |= int(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, 0, errVarIntNotMinimal
			}
			return val, i + 1, nil
		}
	}
	return 0, 0, errVarIntTooLong
}
