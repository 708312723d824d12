package packet

import (
	"errors"
	"io"
)

// DecodeBody decodes the body of a packet whose fixed header is fh for
// protocol version v: New(fh.Type) followed by Decode. With v == 0 (version
// not known yet: the first packet of a connection) only CONNECT is accepted
// and the version is taken from it; any other type is a *Error with
// ProtocolError.
func DecodeBody(fh FixedHeader, body []byte, v Version) (Packet, error) {
	if err := fh.check(); err != nil {
		return nil, err
	}
	if v == 0 && fh.Type != TypeConnect {
		return nil, protocolf("%s before CONNECT", fh.Type)
	}
	p := New(fh.Type)
	if err := p.Decode(fh, body, v); err != nil {
		return nil, err
	}
	return p, nil
}

// ReadPacket reads one packet from r and decodes it for version v (0 for the
// first packet of a connection, see DecodeBody). It allocates a body buffer
// of the packet's remaining length, which the returned packet aliases.
//
// maxSize bounds the whole packet (fixed header included); 0 or less means
// the protocol limit. A larger packet is a *Error with PacketTooLarge
// wrapping ErrTooLarge, returned before its body is read (the connection
// should then be closed: the stream is not resynchronised). Decode errors
// are *Error; a stream ending at a packet boundary returns io.EOF, in the
// middle of a packet io.ErrUnexpectedEOF; other read errors are returned as
// they are.
func ReadPacket(r io.Reader, v Version, maxSize int) (Packet, error) {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = &byteReader{r: r}
	}
	first, err := br.ReadByte()
	if err != nil {
		return nil, err
	}
	n, err := ReadVarInt(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	fh, err := ParseFixedHeader(first, n)
	if err != nil {
		return nil, err
	}
	if size := 1 + VarIntLen(n) + n; maxSize > 0 && size > maxSize {
		return nil, tooLargef("%s of %d bytes over the maximum of %d", fh.Type, size, maxSize)
	}
	if v == 0 && fh.Type != TypeConnect {
		return nil, protocolf("%s before CONNECT", fh.Type)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return DecodeBody(fh, body, v)
}

// ReadConnect reads the first packet of a connection, which must be a
// CONNECT, whatever its protocol version; Connect.Version then tells the
// version for the rest of the connection. See ReadPacket for maxSize and the
// errors. On a *Error with UnsupportedProtocolVersion the returned Connect is
// non-nil and carries the protocol name and level the client sent, so the
// server can answer with a CONNACK it understands.
func ReadConnect(r io.Reader, maxSize int) (*Connect, error) {
	p, err := ReadPacket(r, 0, maxSize)
	if err != nil {
		return nil, err
	}
	return p.(*Connect), nil
}

// Size returns the number of bytes p takes on the wire for version v, fixed
// header included, or the error AppendTo would return. It does not allocate
// except for DISCONNECT, AUTH and packet types from outside this package,
// which it sizes by encoding them.
func Size(p Packet, v Version) (int, error) {
	var n int
	var err error
	switch p := p.(type) {
	case *Publish:
		return p.Size(v)
	case *Pingreq, *Pingresp:
		return 2, checkVersion(p.Type(), v)
	case *Ack:
		n, _, err = p.bodyLen(v)
	case *Subscribe:
		n, _, err = p.bodyLen(v)
	case *Suback:
		n, _, err = p.bodyLen(v)
	case *Unsubscribe:
		n, _, err = p.bodyLen(v)
	case *Unsuback:
		n, _, err = p.bodyLen(v)
	case *Connack:
		n, _, err = p.bodyLen(v)
	case *Connect:
		var l connectLens
		l, err = p.bodyLen(v)
		n = l.n
	default:
		b, err := p.AppendTo(nil, v)
		return len(b), err
	}
	if err != nil {
		return 0, err
	}
	return 1 + VarIntLen(n) + n, nil
}

// byteReader adapts an io.Reader without ReadByte.
type byteReader struct {
	r   io.Reader
	buf [1]byte
}

// ReadByte reads one byte with io.ReadFull.
func (b *byteReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(b.r, b.buf[:]); err != nil {
		return 0, err
	}
	return b.buf[0], nil
}
