//go:build linux

package netpoll_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/netpoll"
)

// chanWaker records its wakes on a channel.
type chanWaker chan struct{}

func (w chanWaker) Wake() { w <- struct{}{} }

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client net.Conn, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	sc, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close(); _ = sc.Close() })
	return client, sc.(*net.TCPConn)
}

func rawConn(t *testing.T, c *net.TCPConn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	require.NoError(t, err)
	return rc
}

func newPoller(t *testing.T) *netpoll.Poller[chanWaker] {
	t.Helper()
	p, err := netpoll.New[chanWaker]()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func awaitWake(t *testing.T, w chanWaker, what string) {
	t.Helper()
	select {
	case <-w:
	case <-time.After(10 * time.Second):
		t.Fatalf("no wake: %s", what)
	}
}

func TestPoller_wakesOnceWhenReadable(t *testing.T) {
	tests := []struct {
		name    string
		trigger func(t *testing.T, client net.Conn)
		// readable: the server end has a byte to read after the wake
		readable bool
	}{
		{"bytes arrive", func(t *testing.T, c net.Conn) { _, err := c.Write([]byte{0xc0}); require.NoError(t, err) }, true},
		{"peer closes", func(t *testing.T, c net.Conn) { require.NoError(t, c.Close()) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPoller(t)
			client, server := tcpPair(t)
			w := make(chanWaker, 2)
			require.NoError(t, p.Arm(rawConn(t, server), w))
			require.Equal(t, 1, p.Armed())
			tt.trigger(t, client)
			awaitWake(t, w, tt.name)
			require.Equal(t, 0, p.Armed(), "a wake consumes the arming")

			buf := make([]byte, 4)
			require.NoError(t, server.SetReadDeadline(time.Now().Add(5*time.Second)))
			n, err := server.Read(buf)
			if tt.readable {
				require.NoError(t, err)
				require.Equal(t, 1, n)
			} else {
				require.Error(t, err, "the reader sees the hang-up")
			}
			require.Empty(t, w, "one wake per arming")
		})
	}
}

func TestPoller_armWhenAlreadyReadableWakesAtOnce(t *testing.T) {
	p := newPoller(t)
	client, server := tcpPair(t)
	_, err := client.Write([]byte("x"))
	require.NoError(t, err)
	// Make sure the byte is in the server's socket before arming.
	require.NoError(t, server.SetReadDeadline(time.Now().Add(5*time.Second)))
	rc := rawConn(t, server)
	require.Eventually(t, func() bool {
		var n int
		_ = rc.Control(func(fd uintptr) {
			n, _, _ = syscall.Recvfrom(int(fd), make([]byte, 1), syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		})
		return n == 1
	}, 10*time.Second, time.Millisecond)

	w := make(chanWaker, 1)
	require.NoError(t, p.Arm(rc, w))
	awaitWake(t, w, "armed while readable")
}

func TestPoller_rearmAfterWake(t *testing.T) {
	p := newPoller(t)
	client, server := tcpPair(t)
	rc := rawConn(t, server)
	w := make(chanWaker, 1)
	buf := make([]byte, 1)
	for i := range 3 {
		require.NoError(t, p.Arm(rc, w), "arming %d", i)
		_, err := client.Write([]byte{byte(i)})
		require.NoError(t, err)
		awaitWake(t, w, "re-armed")
		_, err = server.Read(buf)
		require.NoError(t, err)
		require.Equal(t, byte(i), buf[0])
	}
}

func TestPoller_disarmedConnectionIsNotWoken(t *testing.T) {
	p := newPoller(t)
	client1, server1 := tcpPair(t)
	client2, server2 := tcpPair(t)
	w1, w2 := make(chanWaker, 1), make(chanWaker, 1)
	require.NoError(t, p.Arm(rawConn(t, server1), w1))
	require.NoError(t, p.Arm(rawConn(t, server2), w2))
	p.Disarm(rawConn(t, server1), w1)
	require.Equal(t, 1, p.Armed())

	_, err := client1.Write([]byte("x"))
	require.NoError(t, err)
	_, err = client2.Write([]byte("y"))
	require.NoError(t, err)
	awaitWake(t, w2, "the armed one")
	require.Empty(t, w1, "the disarmed one stays asleep")
}

func TestPoller_armAfterCloseFails(t *testing.T) {
	p, err := netpoll.New[chanWaker]()
	require.NoError(t, err)
	_, server := tcpPair(t)
	rc := rawConn(t, server)
	w := make(chanWaker, 1)
	require.NoError(t, p.Arm(rc, w))
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Arm(rc, w), netpoll.ErrClosed)
	p.Disarm(rc, w) // a no-op, not a panic
	require.NoError(t, p.Close(), "Close twice")
}

func TestPoller_armClosedSocketFails(t *testing.T) {
	p := newPoller(t)
	_, server := tcpPair(t)
	rc := rawConn(t, server)
	require.NoError(t, server.Close())
	require.Error(t, p.Arm(rc, make(chanWaker, 1)))
	require.Equal(t, 0, p.Armed())
}
