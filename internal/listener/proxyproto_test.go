package listener

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// v2Header builds a PROXY protocol v2 header for TCP over IPv4.
func v2Header(cmd byte, src, dst net.IP, sport, dport uint16) []byte {
	var b bytes.Buffer
	b.WriteString("\r\n\r\n\x00\r\nQUIT\n")
	b.WriteByte(0x20 | cmd) // version 2, command
	b.WriteByte(0x11)       // TCP over IPv4
	_ = binary.Write(&b, binary.BigEndian, uint16(12))
	b.Write(src.To4())
	b.Write(dst.To4())
	_ = binary.Write(&b, binary.BigEndian, sport)
	_ = binary.Write(&b, binary.BigEndian, dport)
	return b.Bytes()
}

func TestReadProxyHeader(t *testing.T) {
	connect := "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"
	tests := []struct {
		name    string
		in      []byte
		want    string // remote address; "" keeps the socket's
		wantErr error
	}{
		{"v1 tcp4", []byte("PROXY TCP4 203.0.113.7 10.0.0.1 51000 1883\r\n" + connect), "203.0.113.7:51000", nil},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 51000 1883\r\n" + connect), "[2001:db8::7]:51000", nil},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n" + connect), "", nil},
		{"v2 proxy", append(v2Header(1, net.IPv4(198, 51, 100, 9), net.IPv4(10, 0, 0, 1), 40000, 1883), connect...), "198.51.100.9:40000", nil},
		{"v2 local", append(v2Header(0, net.IPv4(0, 0, 0, 0), net.IPv4(0, 0, 0, 0), 0, 0), connect...), "", nil},
		{"no header", []byte(connect), "", ErrNoProxyHeader},
		{"v1 bad address", []byte("PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n"), "", errAny},
		{"v1 no crlf", []byte("PROXY TCP4 1.2.3.4 10.0.0.1 1 2\n"), "", errAny},
		{"truncated v2", v2Header(1, net.IPv4(1, 2, 3, 4), net.IPv4(5, 6, 7, 8), 1, 2)[:20], "", errAny},
		{"empty", nil, "", errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(bytes.NewReader(tc.in), proxyBufSize)
			addr, err := readProxyHeader(br)
			switch {
			case errors.Is(tc.wantErr, errAny):
				require.Error(t, err)
				return
			case tc.wantErr != nil:
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			if tc.want == "" {
				require.Nil(t, addr)
			} else {
				require.Equal(t, tc.want, addr.String())
			}
			rest, err := io.ReadAll(br)
			require.NoError(t, err)
			require.Equal(t, connect, string(rest), "the bytes after the header are kept")
		})
	}
}

// errAny marks a test case that expects some error.
var errAny = io.ErrShortBuffer

func FuzzReadProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 10.0.0.1 51000 1883\r\n\x10\x00"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2Header(1, net.IPv4(198, 51, 100, 9), net.IPv4(10, 0, 0, 1), 40000, 1883))
	f.Add(v2Header(0, net.IPv4(0, 0, 0, 0), net.IPv4(0, 0, 0, 0), 0, 0))
	f.Add([]byte("\x10\x0c\x00\x04MQTT"))
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), proxyBufSize)
		addr, err := readProxyHeader(br)
		if err != nil {
			require.Nil(t, addr)
			return
		}
		if addr != nil {
			require.NotEmpty(t, addr.String())
		}
		_, _ = io.ReadAll(br)
	})
}
