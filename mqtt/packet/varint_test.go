package packet

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVarInt(t *testing.T) {
	tests := []struct {
		n    int
		wire []byte
	}{
		{0, []byte{0x00}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{16_383, []byte{0xff, 0x7f}},
		{16_384, []byte{0x80, 0x80, 0x01}},
		{2_097_151, []byte{0xff, 0xff, 0x7f}},
		{2_097_152, []byte{0x80, 0x80, 0x80, 0x01}},
		{MaxVarInt, []byte{0xff, 0xff, 0xff, 0x7f}},
	}
	for _, tc := range tests {
		t.Run(string(rune('0'+len(tc.wire))), func(t *testing.T) {
			require.Equal(t, tc.wire, AppendVarInt(nil, tc.n))
			require.Equal(t, len(tc.wire), VarIntLen(tc.n))
			got, err := ReadVarInt(bytes.NewReader(tc.wire))
			require.NoError(t, err)
			require.Equal(t, tc.n, got)
			got, n, derr := decodeVarInt(tc.wire)
			require.Nil(t, derr)
			require.Equal(t, tc.n, got)
			require.Equal(t, len(tc.wire), n)
		})
	}
}

func TestVarInt_invalid(t *testing.T) {
	tests := []struct {
		name string
		wire []byte
		want error
	}{
		{"five bytes", []byte{0xff, 0xff, 0xff, 0xff, 0x01}, ErrMalformed},
		{"not minimal", []byte{0x80, 0x00}, ErrMalformed},
		{"empty", nil, io.EOF},
		{"cut", []byte{0x80}, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadVarInt(bytes.NewReader(tc.wire))
			require.ErrorIs(t, err, tc.want)
		})
	}
	require.Equal(t, 0, VarIntLen(-1))
	require.Equal(t, 0, VarIntLen(MaxVarInt+1))
	require.Equal(t, []byte{0xff, 0xff, 0xff, 0x7f}, AppendVarInt(nil, MaxVarInt+5), "clamped")
}

func TestParseFixedHeader(t *testing.T) {
	tests := []struct {
		first byte
		ok    bool
	}{
		{0x10, true}, {0x11, false}, {0x30, true}, {0x3b, true}, {0x3f, false}, {0x36, false}, {0x37, false},
		{0x62, true}, {0x60, false}, {0x82, true}, {0x83, false}, {0xa2, true}, {0xa0, false},
		{0xc0, true}, {0xf0, true}, {0xf1, false}, {0x00, false}, {0x08, false},
	}
	for _, tc := range tests {
		fh, err := ParseFixedHeader(tc.first, 3)
		if !tc.ok {
			require.Error(t, err, "0x%02x", tc.first)
			require.Equal(t, MalformedPacket, CodeOf(err))
			continue
		}
		require.NoError(t, err, "0x%02x", tc.first)
		require.Equal(t, FixedHeader{Type: Type(tc.first >> 4), Flags: tc.first & 0x0f, RemainingLength: 3}, fh)
	}
	_, err := ParseFixedHeader(0x30, MaxRemainingLength+1)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = ParseFixedHeader(0x30, -1)
	require.ErrorIs(t, err, ErrMalformed)
}

func TestValidString(t *testing.T) {
	require.True(t, validString(""))
	require.True(t, validString("a/é/温度/🔒"))
	require.False(t, validString("a\x00"))
	require.False(t, validString("é\x00"))
	require.False(t, validString("\xed\xa0\x80")) // U+D800
	require.False(t, validString("\xc3"))
}
