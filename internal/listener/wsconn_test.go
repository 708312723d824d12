package listener

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// frame builds one masked client frame.
func frame(b0 byte, payload []byte) []byte {
	mask := [4]byte{1, 2, 3, 4}
	out := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	out = append(out, mask[:]...)
	for i, c := range payload {
		out = append(out, c^mask[i&3])
	}
	return out
}

// pipeConn feeds client bytes to a wsConn and records what it writes.
type pipeConn struct {
	net.Conn
	in  *bytes.Reader
	out bytes.Buffer
}

func (p *pipeConn) Read(b []byte) (int, error)  { return p.in.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return p.out.Write(b) }
func (p *pipeConn) Close() error                { return nil }
func (p *pipeConn) SetWriteDeadline(time.Time) error {
	return nil
}

func readAll(c *wsConn) ([]byte, error) {
	var got []byte
	buf := make([]byte, 7) // smaller than the frames: payloads are read in parts
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
}

func TestWSConn_read(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 70000)
	tests := []struct {
		name    string
		in      [][]byte
		want    []byte
		wantErr error
		reply   []byte // what the server wrote back
	}{
		{"binary frames join into one stream", [][]byte{frame(0x82, []byte("hello ")), frame(0x82, []byte("world"))}, []byte("hello world"), io.EOF, nil},
		{"fragmented message", [][]byte{frame(0x02, []byte("ab")), frame(0x00, []byte("cd")), frame(0x80, []byte("ef"))}, []byte("abcdef"), io.EOF, nil},
		{"16 and 64-bit lengths", [][]byte{frame(0x82, long[:300]), frame(0x82, long)}, append(long[:300:300], long...), io.EOF, nil},
		{"ping is answered between data", [][]byte{frame(0x82, []byte("a")), frame(0x89, []byte("hi")), frame(0x82, []byte("b"))}, []byte("ab"), io.EOF, []byte{0x8a, 2, 'h', 'i'}},
		{"close ends the stream", [][]byte{frame(0x82, []byte("a")), frame(0x88, []byte{0x03, 0xe8}), frame(0x82, []byte("b"))}, []byte("a"), io.EOF, []byte{0x88, 2, 0x03, 0xe8}},
		{"text frame refused", [][]byte{frame(0x81, []byte("a"))}, nil, errWSProtocol, []byte{0x88, 2, 0x03, 0xea}},
		{"unmasked frame refused", [][]byte{{0x82, 0x01, 'a'}}, nil, errWSProtocol, []byte{0x88, 2, 0x03, 0xea}},
		{"continuation without a start refused", [][]byte{frame(0x80, []byte("a"))}, nil, errWSProtocol, []byte{0x88, 2, 0x03, 0xea}},
		{"long control frame refused", [][]byte{frame(0x89, long[:126])}, nil, errWSProtocol, []byte{0x88, 2, 0x03, 0xea}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := &pipeConn{in: bytes.NewReader(bytes.Join(tc.in, nil))}
			got, err := readAll(&wsConn{Conn: pc})
			require.True(t, errors.Is(err, tc.wantErr), "error %v", err)
			require.Equal(t, string(tc.want), string(got))
			require.Equal(t, tc.reply, pc.out.Bytes())
		})
	}
}

func TestWSConn_write(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		pc := &pipeConn{in: bytes.NewReader(nil)}
		c := &wsConn{Conn: pc}
		_, err := c.Write(bytes.Repeat([]byte("y"), n))
		require.NoError(t, err)
		b := pc.out.Bytes()
		require.Equal(t, byte(0x82), b[0], "final binary frame, %d bytes", n)
		require.Zero(t, b[1]&0x80, "server frames are not masked")
		hdr := map[bool]int{true: 2}[n <= 125] + map[bool]int{true: 4}[n > 125 && n <= 0xffff] + map[bool]int{true: 10}[n > 0xffff]
		require.Len(t, b, hdr+n)
	}
}

// FuzzWSRead feeds arbitrary client bytes to the frame reader: it must
// return an error or data, never panic, never loop.
func FuzzWSRead(f *testing.F) {
	f.Add(frame(0x82, []byte("hello")))
	f.Add(append(frame(0x02, []byte("ab")), frame(0x80, []byte("cd"))...))
	f.Add(frame(0x89, []byte("ping")))
	f.Add([]byte{0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, in []byte) {
		pc := &pipeConn{in: bytes.NewReader(in)}
		got, _ := readAll(&wsConn{Conn: pc})
		if len(got) > len(in) {
			t.Fatalf("read %d bytes from %d", len(got), len(in))
		}
	})
}

// TestEncrypted: the broker learns that a connection is TLS through the
// listener's wrappers too (PROXY protocol, WebSocket over TLS).
func TestEncrypted(t *testing.T) {
	plain, other := net.Pipe()
	t.Cleanup(func() { _ = plain.Close(); _ = other.Close() })
	overTLS := tls.Client(plain, &tls.Config{MinVersion: tls.VersionTLS12})
	for _, tc := range []struct {
		name string
		conn interface{ Encrypted() bool }
		want bool
	}{
		{"plain", &Conn{Conn: plain}, false},
		{"TLS", &Conn{Conn: overTLS}, true},
		{"WebSocket", &wsConn{Conn: plain}, false},
		{"WebSocket over TLS", &wsConn{Conn: overTLS}, true},
		{"WebSocket over PROXY and TLS", &wsConn{Conn: &Conn{Conn: overTLS}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.conn.Encrypted())
		})
	}
}
