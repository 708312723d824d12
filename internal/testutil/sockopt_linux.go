package testutil

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// SoKeepAlive reads SO_KEEPALIVE of a TCP connection's socket (1: TCP
// keep-alive probes on).
func SoKeepAlive(t testing.TB, c net.Conn) int {
	t.Helper()
	tc, ok := c.(*net.TCPConn)
	require.True(t, ok, "%T is not a TCP connection", c)
	rc, err := tc.SyscallConn()
	require.NoError(t, err)
	var v int
	var gerr error
	require.NoError(t, rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE) }))
	require.NoError(t, gerr)
	return v
}
