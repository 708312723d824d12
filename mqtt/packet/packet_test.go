package packet_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/mqtt/packet/packettest"
)

func TestCases_decode(t *testing.T) {
	for _, tc := range packettest.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := packettest.Decode(tc.Raw, tc.Version)
			if tc.WantErr != 0 {
				require.Error(t, err)
				require.Nil(t, got)
				require.Equal(t, tc.WantErr, packet.CodeOf(err), "error: %v", err)
				var pe *packet.Error
				require.ErrorAs(t, err, &pe)
				switch tc.WantErr {
				case packet.MalformedPacket:
					require.ErrorIs(t, err, packet.ErrMalformed)
				case packet.ProtocolError, packet.UnsupportedProtocolVersion:
					require.ErrorIs(t, err, packet.ErrProtocol)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.Packet, got)
		})
	}
}

func TestCases_decodeConnectWithoutVersion(t *testing.T) {
	for _, tc := range packettest.Cases {
		if tc.Raw[0]>>4 != byte(packet.TypeConnect) {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			got, err := packettest.Decode(tc.Raw, 0)
			if tc.WantErr != 0 {
				require.Equal(t, tc.WantErr, packet.CodeOf(err), "error: %v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.Packet, got)
		})
	}
}

func TestCases_encode(t *testing.T) {
	for _, tc := range packettest.Cases {
		if tc.WantErr != 0 || tc.NoEncode {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			prefix := []byte("prefix")
			got, err := tc.Packet.AppendTo(prefix, tc.Version)
			require.NoError(t, err)
			require.Equal(t, prefix, got[:len(prefix)])
			require.Equal(t, tc.Raw, got[len(prefix):])

			n, err := packet.Size(tc.Packet, tc.Version)
			require.NoError(t, err)
			require.Len(t, tc.Raw, n)
		})
	}
}

func TestCases_roundTrip(t *testing.T) {
	for _, tc := range packettest.Cases {
		if tc.WantErr != 0 {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			first, err := packettest.Decode(tc.Raw, tc.Version)
			require.NoError(t, err)
			raw, err := first.AppendTo(nil, tc.Version)
			require.NoError(t, err)
			second, err := packettest.Decode(raw, tc.Version)
			require.NoError(t, err)
			require.Equal(t, first, second)
		})
	}
}

// TestCases_truncated checks that every strict prefix of a valid packet is
// refused without panicking.
func TestCases_truncated(t *testing.T) {
	for _, tc := range packettest.Cases {
		if tc.WantErr != 0 {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			for i := range len(tc.Raw) {
				_, err := packettest.Decode(tc.Raw[:i], tc.Version)
				require.Error(t, err, "prefix of %d bytes", i)
			}
		})
	}
}

// TestCases_bodyMutations flips every bit of every valid packet's body and
// decodes it: it must not panic, and whatever decodes must encode.
func TestCases_bodyMutations(t *testing.T) {
	for _, tc := range packettest.Cases {
		if tc.WantErr != 0 {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			raw := bytes.Clone(tc.Raw)
			for i := range raw {
				for bit := range 8 {
					raw[i] ^= 1 << bit
					p, err := packettest.Decode(bytes.Clone(raw), tc.Version)
					if err == nil {
						_, err = p.AppendTo(nil, tc.Version)
						require.NoError(t, err, "byte %d bit %d", i, bit)
					}
					raw[i] ^= 1 << bit
				}
			}
		})
	}
}

func TestReadPacket_maxSize(t *testing.T) {
	raw := []byte{0x30, 5, 0, 1, 'a', 'x', 'y'}
	_, err := packet.ReadPacket(bytes.NewReader(raw), packet.V311, 6)
	require.ErrorIs(t, err, packet.ErrTooLarge)
	require.Equal(t, packet.PacketTooLarge, packet.CodeOf(err))

	p, err := packet.ReadPacket(bytes.NewReader(raw), packet.V311, 7)
	require.NoError(t, err)
	require.Equal(t, &packet.Publish{Topic: "a", Payload: []byte("xy")}, p)
}

func TestReadPacket_stream(t *testing.T) {
	var stream []byte
	for _, p := range []packet.Packet{&packet.Pingreq{}, &packet.Publish{Topic: "a"}, &packet.Disconnect{}} {
		var err error
		stream, err = p.AppendTo(stream, packet.V5)
		require.NoError(t, err)
	}
	r := onlyReader{bytes.NewReader(stream)} // no ReadByte
	for _, want := range []packet.Type{packet.TypePingreq, packet.TypePublish, packet.TypeDisconnect} {
		p, err := packet.ReadPacket(r, packet.V5, 0)
		require.NoError(t, err)
		require.Equal(t, want, p.Type())
	}
	_, err := packet.ReadPacket(r, packet.V5, 0)
	require.ErrorIs(t, err, io.EOF)
}

func TestReadConnect(t *testing.T) {
	c, err := packet.ReadConnect(bytes.NewReader(mustEncode(t, &packet.Connect{ClientID: "x"}, packet.V5)), 0)
	require.NoError(t, err)
	require.Equal(t, packet.V5, c.Version)

	_, err = packet.ReadConnect(bytes.NewReader([]byte{0xC0, 0}), 0)
	require.Equal(t, packet.ProtocolError, packet.CodeOf(err))

	c = &packet.Connect{}
	err = c.Decode(packet.FixedHeader{Type: packet.TypeConnect, RemainingLength: 8},
		[]byte{0, 4, 'M', 'Q', 'T', 'T', 7, 0}, 0)
	require.Equal(t, packet.UnsupportedProtocolVersion, packet.CodeOf(err))
	require.Equal(t, packet.Version(7), c.Version)
	require.Equal(t, "MQTT", c.ProtocolName)
}

func TestDecodeBody(t *testing.T) {
	fh, err := packet.ParseFixedHeader(0x62, 2)
	require.NoError(t, err)
	p, err := packet.DecodeBody(fh, []byte{0, 9}, packet.V311)
	require.NoError(t, err)
	require.Equal(t, &packet.Ack{PacketType: packet.TypePubrel, PacketID: 9}, p)

	_, err = packet.DecodeBody(fh, []byte{0, 9, 0}, packet.V311)
	require.Equal(t, packet.MalformedPacket, packet.CodeOf(err), "body longer than remaining length")

	_, err = packet.DecodeBody(fh, []byte{0, 9}, packet.Version(9))
	require.Equal(t, packet.ProtocolError, packet.CodeOf(err))
}

func mustEncode(t *testing.T, p packet.Packet, v packet.Version) []byte {
	t.Helper()
	b, err := p.AppendTo(nil, v)
	require.NoError(t, err)
	return b
}

// onlyReader hides every method but Read.
type onlyReader struct{ r *bytes.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
