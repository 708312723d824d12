package packettest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// Decode decodes Raw the way the case table means it: Raw is exactly one
// packet. It reads it with packet.ReadPacket (no size limit) and turns a
// packet cut short, or bytes left after it, into a *packet.Error with
// MalformedPacket.
func Decode(raw []byte, v packet.Version) (packet.Packet, error) {
	r := bytes.NewReader(raw)
	p, err := packet.ReadPacket(r, v, 0)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, &packet.Error{Code: packet.MalformedPacket,
			Err: fmt.Errorf("packet cut short (%w): %w", err, packet.ErrMalformed)}
	}
	if err != nil {
		return nil, err
	}
	if r.Len() > 0 {
		return nil, &packet.Error{Code: packet.MalformedPacket,
			Err: fmt.Errorf("%d bytes after the packet: %w", r.Len(), packet.ErrMalformed)}
	}
	return p, nil
}

// The helpers below build raw packets by hand, independently of the codec
// under test.

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// vi encodes a variable byte integer.
func vi(n int) []byte {
	var b []byte
	for {
		c := byte(n % 128)
		n /= 128
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

// pkt builds a packet: first byte, remaining length, body.
func pkt(first byte, body ...[]byte) []byte {
	b := cat(body...)
	return cat([]byte{first}, vi(len(b)), b)
}

// str encodes an MQTT string or binary value: two-byte length, bytes.
func str(s string) []byte { return cat(u16(uint16(len(s))), []byte(s)) }

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// props builds a property block: length, then the properties.
func props(ps ...[]byte) []byte {
	b := cat(ps...)
	return cat(vi(len(b)), b)
}

// prop builds one property: identifier, value.
func prop(id packet.PropertyID, value ...[]byte) []byte {
	return cat([]byte{byte(id)}, cat(value...))
}

// b is shorthand for a byte slice literal.
func b(v ...byte) []byte { return v }
