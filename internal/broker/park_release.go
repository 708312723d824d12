//go:build linux

package broker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Releasing a parked connection's socket.
//
// Every socket Go polls costs about 870 bytes beyond the hub's own state
// (measured at 19,000 idle connections): the runtime's poll descriptor,
// 304 bytes padded to 512 outside the heap; the netFD, its two addresses
// and their sockaddr backing; the finalizer's record. That was almost half
// of what an idle plain TCP connection cost. So a parked connection (plain
// TCP, or TLS and WebSocket through SocketSwapper) gives its socket back
// to the runtime: it keeps a duplicate of
// the descriptor (releasedSocket, in park.raw), which the hub's poller
// watches, and closes the net.Conn, which frees all of the above at once
// (the runtime reuses the poll descriptor for the next socket). The
// connection becomes a net.Conn again (attach: net.FileConn) when it is
// woken, or when something must be written to it.
//
// The rules that keep this safe, all under outMu:
//   - a connection is released only by its read loop while it parks
//     (parkMu held), and only while no writer has a turn and it is not
//     closing, so no goroutine holds the old net.Conn;
//   - a writer whose turn finds it released attaches it first (writers
//     never touch the duplicate), after taking it out of the poller
//     (unpark, whose winner starts the read loop), so the descriptor is
//     closed only when nothing watches or uses it;
//   - abort closes the duplicate when released; whoever attaches next
//     finds it closed and the connection ends as a closed socket does.
//
// Each release costs a dup and a close, each attach about ten system
// calls (net.FileConn), so a device that wakes every minute pays a few
// microseconds more per wake; busy connections never park and pay
// nothing. A wake that is the peer's close (end of stream or a reset: the
// usual wake of a parked connection, and all of them at once when a
// network drops its devices) is found by one peek (releasedPeerGone) and
// ends the connection without attaching it.

// releasedPeerGone reports whether c's socket is released and its peer
// closed it: a one-byte MSG_PEEK, which takes nothing from the socket,
// finds the end of the stream or a pending error (a reset). Bytes waiting,
// or none yet, mean the connection goes on as woken.
func (c *conn) releasedPeerGone() bool {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	r := c.released()
	if r == nil || r.fd < 0 {
		return false
	}
	var b [1]byte
	n, _, err := unix.Recvfrom(r.fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	for errors.Is(err, unix.EINTR) {
		n, _, err = unix.Recvfrom(r.fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	}
	gone := (err == nil && n == 0) || (err != nil && !errors.Is(err, unix.EAGAIN))
	if gone {
		c.s.stats.goneReleased.Add(1)
	}
	return gone
}

// releasedSocket is park.raw while the socket is released: the duplicate
// descriptor (-1 once abort closed it). Control hands it to the poller;
// reads and writes go through a net.Conn, never through it.
type releasedSocket struct{ fd int }

var _ syscall.RawConn = (*releasedSocket)(nil)

// Control calls f with the descriptor.
func (r *releasedSocket) Control(f func(fd uintptr)) error {
	if r.fd < 0 {
		return net.ErrClosed
	}
	f(uintptr(r.fd))
	return nil
}

// Read refuses: a released socket is attached before it is read.
func (r *releasedSocket) Read(func(fd uintptr) bool) error { return errReleased }

// Write refuses: a released socket is attached before it is written.
func (r *releasedSocket) Write(func(fd uintptr) bool) error { return errReleased }

// errReleased is what a read or write of a released socket returns (a bug:
// the rules above attach it first).
var errReleased = fmt.Errorf("socket released while parked: %w", net.ErrClosed)

// releasedConn is conn.nc while the socket is released: every call fails
// as on a closed connection, so a stray use cannot touch a descriptor.
type releasedConn struct{}

func (releasedConn) Read([]byte) (int, error)         { return 0, errReleased }
func (releasedConn) Write([]byte) (int, error)        { return 0, errReleased }
func (releasedConn) Close() error                     { return nil }
func (releasedConn) LocalAddr() net.Addr              { return nil }
func (releasedConn) RemoteAddr() net.Addr             { return nil }
func (releasedConn) SetDeadline(time.Time) error      { return errReleased }
func (releasedConn) SetReadDeadline(time.Time) error  { return errReleased }
func (releasedConn) SetWriteDeadline(time.Time) error { return errReleased }

// released returns the released socket, or nil when c holds a net.Conn.
// Called with outMu held (or parkMu while parked).
func (c *conn) released() *releasedSocket {
	r, _ := c.park.raw.(*releasedSocket)
	return r
}

// releasable reports whether c may give its socket back while parked:
// plain TCP, or a layer that can swap the socket under it (WebSocket).
func (c *conn) releasable() bool {
	if c.s.opts.KeepParkedSockets {
		return false
	}
	if c.park.plain {
		return true
	}
	_, ok := c.nc.(SocketSwapper)
	return ok
}

// release gives c's socket back to the runtime as it parks, keeping a
// duplicate descriptor; false when c keeps its net.Conn (not plain TCP,
// releasing off, a writer's turn, closing, or the dup failed). Called by
// the read loop with parkMu held.
func (c *conn) release() bool {
	if !c.releasable() {
		return false
	}
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.writing || c.closing || c.released() != nil {
		return false
	}
	dup := -1
	var dupErr error
	if err := c.park.raw.Control(func(fd uintptr) {
		dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || dupErr != nil {
		return false
	}
	if sw, ok := c.nc.(SocketSwapper); ok && !c.park.plain {
		socket := sw.DetachSocket(releasedConn{})
		if socket == nil {
			_ = unix.Close(dup)
			return false
		}
		_ = socket.Close()
	} else {
		_ = c.nc.Close()
		c.nc = releasedConn{}
	}
	c.park.raw = &releasedSocket{fd: dup}
	c.s.stats.released.Add(1)
	return true
}

// releaseParked releases c if it parked while a writer had its turn (a
// CONNACK or SUBACK on its way, say: release refused then); writers call
// it when their turn ends. The poller moves from the socket to the
// duplicate.
func (c *conn) releaseParked() {
	if !c.releasable() {
		return
	}
	c.parkMu.Lock()
	defer c.parkMu.Unlock()
	if !c.park.parked {
		return
	}
	c.outMu.Lock()
	socket, ok := c.park.raw, !c.writing && !c.closing && c.released() == nil
	c.outMu.Unlock()
	if !ok {
		return
	}
	c.s.npoll.Disarm(socket, c)
	c.release() // or not, when a writer's turn began meanwhile: arm the socket again
	if err := c.s.npoll.Arm(c.park.raw, c); err != nil {
		// Closed meanwhile: the read loop finds out and cleans up.
		c.unparkLocked()
		go c.resume()
	}
}

// attach gives a released c a net.Conn again (the duplicate becomes one,
// and is closed). The caller made sure the poller does not watch it
// (unpark). An error means the socket is gone (abort closed it): c then
// fails every read and write as a closed connection.
func (c *conn) attach() error {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	r := c.released()
	if r == nil {
		return nil
	}
	if r.fd < 0 {
		return net.ErrClosed
	}
	f := os.NewFile(uintptr(r.fd), "released socket")
	nc, err := net.FileConn(f)
	_ = f.Close()
	r.fd = -1
	c.s.stats.released.Add(-1)
	if err != nil {
		return fmt.Errorf("attach released socket: %w", err)
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		_ = nc.Close()
		return errors.New("attach released socket: not TCP")
	}
	if c.keepAliveSecs != 0 {
		// net.FileConn turned TCP keep-alive probes on; the MQTT keep
		// alive does their job (probeIfSilent).
		_ = tc.SetKeepAlive(false)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		_ = nc.Close()
		return fmt.Errorf("attach released socket: %w", err)
	}
	if sw, ok := c.nc.(SocketSwapper); ok && !c.park.plain {
		sw.AttachSocket(tc)
	} else {
		c.nc = tc
	}
	c.park.raw = rc
	c.park.idleAt = 0 // the new net.Conn has no read deadline yet
	return nil
}

// attachToWrite attaches a released c for a writer whose turn began; if c
// was parked, the writer takes it out of the poller and starts its read
// loop (the descriptor the poller watched is about to be closed).
func (c *conn) attachToWrite() error {
	c.outMu.Lock()
	released := c.released() != nil
	c.outMu.Unlock()
	if !released {
		return nil
	}
	if c.unpark() {
		go c.resume()
	}
	return c.attach()
}

// closeSocket closes c's socket: the net.Conn, or the released duplicate.
func (c *conn) closeSocket() {
	c.outMu.Lock()
	nc := c.nc
	if r := c.released(); r != nil && r.fd >= 0 {
		_ = unix.Close(r.fd)
		r.fd = -1
		c.s.stats.released.Add(-1)
	}
	c.outMu.Unlock()
	c.closeNetConn(nc) // read_raw_loop.go
}

// sockName is the hub's end of c's connection.
func (c *conn) sockName() string {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if r := c.released(); r != nil {
		if r.fd < 0 {
			return ""
		}
		sa, err := unix.Getsockname(r.fd)
		if err != nil {
			return ""
		}
		return sockaddrString(sa)
	}
	if a := c.nc.LocalAddr(); a != nil {
		return a.String()
	}
	return ""
}

// sockaddrString formats an IPv4 or IPv6 socket address as net.TCPAddr
// does.
func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	case *unix.SockaddrInet6:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	}
	return ""
}
