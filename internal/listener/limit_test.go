package listener

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// dialFrom connects to addr from the loopback address local.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// refused connects from local and reports whether the server closed the
// connection at once (a reset may already fail the dial).
func refused(t *testing.T, local, addr string) bool {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return true
	}
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestLimit_perAddressAndTotal(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := Limit(inner, LimitOptions{Name: "api", Max: 3, PerAddress: 2})
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	addr := inner.Addr().String()
	next := func() net.Conn {
		select {
		case c := <-accepted:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no connection accepted")
			return nil
		}
	}

	dialFrom(t, "127.0.0.1", addr)
	s1 := next()
	dialFrom(t, "127.0.0.1", addr)
	next()
	require.True(t, refused(t, "127.0.0.1", addr), "a third connection from one address")
	dialFrom(t, "127.0.0.2", addr)
	next()
	require.True(t, refused(t, "127.0.0.3", addr), "a fourth connection in all")
	require.Equal(t, LimitStats{Open: 3, RefusedMax: 1, RefusedPerAddress: 1}, ln.Stats())

	// A connection closed by the server frees its place.
	require.NoError(t, s1.Close())
	require.Error(t, s1.Close(), "a second Close does not free another place")
	dialFrom(t, "127.0.0.1", addr)
	next()
	require.True(t, refused(t, "127.0.0.1", addr))
	require.Equal(t, int64(3), ln.Stats().Open)
}

// TestAddressKey: PerAddress counts IPv4 addresses one by one and IPv6
// addresses by their /64.
func TestAddressKey(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"::1", "::1", true},
	}
	for _, tc := range tests {
		a, b := addressKey(netip.MustParseAddr(tc.a)), addressKey(netip.MustParseAddr(tc.b))
		require.Equal(t, tc.same, a == b, "%s vs %s", tc.a, tc.b)
	}
	require.Equal(t, netip.Addr{}, addressKey(netip.Addr{}), "no address: one shared count")
}
