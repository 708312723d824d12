package broker

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"syscall"
	"time"
)

// Idle connections and the poller (see internal/netpoll).
//
// A TCP or TLS connection whose client sent nothing for
// Options.ParkIdleAfter is parked: its read loop arms the server's poller
// and its goroutine ends, so an idle device costs its socket and its
// session, not a goroutine stack. Whoever wakes it first starts a fresh
// read loop: the poller (bytes arrived, or the peer hung up), the
// keep-alive timer (1.5 × keep alive passed: the new loop's read fails at
// once with the deadline and the connection closes as a keep-alive
// timeout), or abort (the hub closes the socket: the new loop's read fails
// and it cleans up). parkMu makes exactly one of them win.
//
// TLS and WebSocket connections park on the TCP socket under them
// (SocketConn) but are still read through their layers (the listener's
// WebSocket framing holds no buffer). PROXY-protocol connections keep
// their goroutine (bytes may wait in a buffer above the socket), as do all
// connections where the poller is unavailable.

// errIdle is readPacket's answer when the client was idle for
// ParkIdleAfter at a packet boundary: time to park.
var errIdle = errors.New("idle connection")

// SocketConn is implemented by connections layered over a TCP socket
// (TLS) that let an idle reader wait on the socket itself: Socket returns
// it, or nil when bytes may wait in a layer above it that a poller on the
// socket would not see. Reads always go through the connection.
type SocketConn interface {
	Socket() *net.TCPConn
}

// SocketSwapper is implemented by connections layered directly over a
// plain TCP socket that keep nothing of it but the net.Conn (WebSocket
// without TLS), so that a parked one can give its socket back to Go's
// runtime (park_release.go). The broker calls both only while no one reads
// or writes the connection.
type SocketSwapper interface {
	// DetachSocket puts standIn in the socket's place and returns the
	// socket; nil (and nothing changed) when the connection does not run
	// directly over a TCP socket.
	DetachSocket(standIn net.Conn) *net.TCPConn
	// AttachSocket puts nc under the connection, in standIn's place.
	AttachSocket(nc net.Conn)
}

// parkState is the part of conn that parking uses.
type parkState struct {
	// raw is the socket to arm; nil when this connection never parks.
	raw syscall.RawConn
	// kaAt is when the keep alive runs out (0: keep alive off), on the
	// monotonic clock (monoClock: 8 bytes where a time.Time takes 24).
	// Owned by the read loop; kaDeadline reads it.
	kaAt monoClock
	// woke is when the read loop last resumed (Unix nanoseconds; 0:
	// never). Owned by the read loop.
	woke int64
	// plain is set when raw is the connection itself (plain TCP): only
	// then may bytes be written to it directly (write_inline.go).
	plain bool
	// parked is guarded by conn.parkMu.
	parked bool
	// idleAt is the idle read deadline last set (setReadDeadline), in
	// milliseconds on the monotonic clock, wrapping (0: none, or another
	// deadline was set since). In the padding after the flags. Owned by
	// the read loop.
	idleAt uint32
}

// msOf returns t in milliseconds since monoBase, wrapping, never 0.
func msOf(t time.Time) uint32 {
	return max(uint32(t.Sub(monoBase)/time.Millisecond), 1)
}

// kaDeadline is when the keep alive runs out (zero: keep alive off).
func (p *parkState) kaDeadline() time.Time { return p.kaAt.time() }

// monoClock is an instant as an offset from monoBase, which carries the
// monotonic clock: 8 bytes where a time.Time takes 24, and no wall-clock
// jumps. 0 stands for none.
type monoClock int64

// monoBase is the origin of monoClock.
var monoBase = time.Now()

// monoOf returns t as a monoClock (0 for the zero time).
func monoOf(t time.Time) monoClock {
	if t.IsZero() {
		return 0
	}
	if d := monoClock(t.Sub(monoBase)); d != 0 {
		return d
	}
	return 1 // monoBase itself: a nanosecond later, not "none"
}

// time returns m as a time.Time on the monotonic clock (zero for 0).
func (m monoClock) time() time.Time {
	if m == 0 {
		return time.Time{}
	}
	return monoBase.Add(time.Duration(m))
}

// initPark lets c park when the server has a poller and c is TCP, or TLS
// over TCP (SocketConn).
func (c *conn) initPark() {
	if c.s.npoll == nil {
		return
	}
	tc, plain := c.nc.(*net.TCPConn)
	if sc, ok := c.nc.(SocketConn); ok && !plain {
		tc = sc.Socket()
	}
	if tc == nil {
		return
	}
	if rc, err := tc.SyscallConn(); err == nil {
		c.park.raw, c.park.plain = rc, plain
	}
}

// armKeepAlive starts the keep-alive period after a packet: the next packet
// must start within 1.5 × keep alive.
func (c *conn) armKeepAlive() {
	now := time.Now()
	if ka := c.keepAlive(); ka > 0 {
		c.park.kaAt = monoOf(now.Add(ka * 3 / 2))
	}
	c.setReadDeadline(now)
}

// setReadDeadline sets the socket's read deadline from now: the keep-alive
// deadline, or sooner the moment a parkable connection counts as idle.
//
// An idle deadline still more than three quarters of ParkIdleAfter away is
// left where it is: moving the socket's timer for every packet of a busy
// connection cost a runtime timer update each (~4% of the hub's CPU under
// load). A connection so counts as idle after 3/4 to all of ParkIdleAfter
// of silence.
func (c *conn) setReadDeadline(now time.Time) {
	d := c.park.kaDeadline()
	if c.park.raw != nil {
		if idle := now.Add(c.s.opts.ParkIdleAfter); d.IsZero() || idle.Before(d) {
			if at := c.park.idleAt; at != 0 && time.Duration(int32(at-msOf(now)))*time.Millisecond > c.s.opts.ParkIdleAfter*3/4 {
				return
			}
			c.park.idleAt = msOf(idle)
			_ = c.nc.SetReadDeadline(idle)
			return
		}
	} else if c.keepAliveSecs == 0 {
		return // no deadline at all (handleConnect cleared the connect timeout)
	}
	c.park.idleAt = 0
	_ = c.nc.SetReadDeadline(d)
}

// idleTimeout reports whether err is the short idle deadline of a
// parkable connection rather than its keep alive running out.
func (c *conn) idleTimeout(err error) bool {
	return c.park.raw != nil && c.sess != nil && errors.Is(err, os.ErrDeadlineExceeded) &&
		(c.park.kaDeadline().IsZero() || time.Now().Before(c.park.kaDeadline()))
}

// readSome reads into p; a packet that is partly in keeps being read past
// the idle deadline, until the keep-alive deadline.
func (c *conn) readSome(p []byte) (int, error) {
	for {
		n, err := c.nc.Read(p)
		if n > 0 || !c.idleTimeout(err) {
			return n, err
		}
		c.park.idleAt = 0
		_ = c.nc.SetReadDeadline(c.park.kaDeadline())
	}
}

// parkReader arms the poller for c and reports whether it did; the caller's
// goroutine must then end. On false the caller goes on reading.
func (c *conn) parkReader() bool {
	c.parkMu.Lock()
	defer c.parkMu.Unlock()
	now := time.Now()
	if !c.park.kaDeadline().IsZero() && !c.s.kaWheel.fits(c.park.kaDeadline(), now) {
		// The keep alive runs out too soon to park: the read deadline
		// closes the connection unless a packet comes.
		c.setReadDeadline(now)
		return false
	}
	released := c.release() // park_release.go
	if err := c.s.npoll.Arm(c.park.raw, c); err != nil {
		// The socket was closed (abort): reading finds out and cleans up.
		if released {
			_ = c.attach()
		}
		c.setReadDeadline(now)
		return false
	}
	if !c.park.kaDeadline().IsZero() {
		c.s.kaWheel.add(c) // park_wheel.go
	}
	c.park.parked = true
	c.s.stats.parked.Add(1)
	return true
}

// unpark takes c out of the poller; true when c was parked, and the caller
// now owns starting its read loop.
func (c *conn) unpark() bool {
	c.parkMu.Lock()
	defer c.parkMu.Unlock()
	if !c.park.parked {
		return false
	}
	c.unparkLocked()
	return true
}

// unparkLocked takes parked c out of the poller; parkMu is held.
func (c *conn) unparkLocked() {
	c.park.parked = false
	c.s.stats.parked.Add(-1)
	c.s.npoll.Disarm(c.park.raw, c)
	if !c.park.kaDeadline().IsZero() {
		c.s.kaWheel.remove(c)
	}
}

// Wake restarts a parked connection's read loop (netpoll.Waker; also the
// keep-alive timer).
func (c *conn) Wake() {
	if c.unpark() {
		go c.resume()
	}
}

// resume is a woken connection's read loop. A connection woken after a
// quiet spell (its last wake more than ParkIdleAfter ago: a device's
// ping, publish or subscribe) parks again as soon as it has handled what
// came; one woken again sooner is busy, and keeps its read loop until it
// is idle for ParkIdleAfter. So a burst of connections or pings leaves no
// read loops behind for a second each: the goroutines (whose descriptors
// the runtime keeps forever once it made them) stay few.
func (c *conn) resume() {
	now := time.Now()
	wake := now.UnixNano()
	c.parkSoon, c.parkNow = c.park.woke == 0 || wake-c.park.woke > int64(c.s.opts.ParkIdleAfter), false
	c.park.woke = wake
	if c.releasedPeerGone() {
		c.readFailed(io.EOF)
		c.holdWriter(false)
		c.s.connClosed(c)
		return
	}
	// A released socket that cannot be attached (abort closed it) stays a
	// releasedConn: the first read fails as on a closed socket.
	_ = c.attach()
	c.setReadDeadline(now)
	c.loop()
}

// Reclaiming memory after bursts. A goroutine's stack outlives it until
// the next garbage collection, and what a burst of connections (TLS and
// WebSocket handshakes, CONNECT decoding) left behind is garbage until
// then; the memory goes back to the system later still, through the
// runtime's scavenger, which keeps up to about twice the live heap. An
// idle hub allocates little, so neither happens soon after thousands of
// connections arrive and go quiet. reclaimLoop notices the end of such a
// burst, by a sharp drop in the number of goroutines or in the rate of
// allocation, and returns the memory at once: two forced collections, the
// second one returning the free memory (debug.FreeOSMemory), because what
// sync.Pools hold (ours, and with the cluster on nats-server's buffers of
// its replicated writes, several MB after a burst of claims) survives one
// collection in the pools' victim cache. A
// steady load never triggers it, and it runs at most once per
// reclaimMinGap for the allocation rule. The burst is the largest tick
// since the last reclaim, not just the tick before: a dip inside a burst
// (a loaded machine) that reclaimed early does not hide the burst's end,
// which then reclaims once the gap has passed.
//
// A reclaim is repeated once, reclaimFollowUp later, if the hub stayed
// quiet: what a burst left in caches that expire on a timer comes free
// only then. With the cluster on, nats-server keeps the block buffers of
// the registry's stream and of its raft log (4 MB each on every node
// after thousands of claims) for 10 s after the last write, then puts
// them in a sync.Pool.
const (
	reclaimEvery    = time.Second
	reclaimDrop     = 1024    // goroutines fewer than the high-water mark
	reclaimBurst    = 4 << 20 // bytes allocated in one tick that make a burst
	reclaimMinGap   = 5 * time.Second
	reclaimFollowUp = 15 * time.Second
)

// reclaimLoop runs while the server has a poller, until Shutdown.
func (s *Server) reclaimLoop() {
	t := time.NewTicker(reclaimEvery)
	defer t.Stop()
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	var r reclaimer
	for {
		select {
		case <-s.quit:
			return
		case now := <-t.C:
			metrics.Read(sample)
			var allocs uint64
			if sample[0].Value.Kind() == metrics.KindUint64 {
				allocs = sample[0].Value.Uint64()
			}
			if r.due(now, runtime.NumGoroutine(), allocs) {
				runtime.GC() // empties the pools into their victim cache
				debug.FreeOSMemory()
			}
		}
	}
}

// reclaimer decides when to reclaim, from one sample per tick.
type reclaimer struct {
	high        int    // goroutines: high-water mark since the last reclaim
	allocs      uint64 // bytes allocated in total at the last tick
	peak        uint64 // bytes allocated during the busiest tick since the last reclaim
	lastReclaim time.Time
	followUp    time.Time // when to reclaim once more (zero: not due)
}

// due takes the tick's sample (goroutines now, bytes allocated in total)
// and reports whether to reclaim now.
func (r *reclaimer) due(now time.Time, goroutines int, allocs uint64) bool {
	tick := allocs - r.allocs
	if r.allocs == 0 {
		tick = 0 // the first sample
	}
	r.allocs = allocs
	r.peak = max(r.peak, tick)
	var reclaim bool
	if r.high, reclaim = reclaimDue(r.high, goroutines); !reclaim {
		reclaim = r.peak >= reclaimBurst && tick*8 < r.peak && now.Sub(r.lastReclaim) >= reclaimMinGap
	}
	switch {
	case reclaim:
		r.followUp = now.Add(reclaimFollowUp)
	case !r.followUp.IsZero() && !now.Before(r.followUp):
		// Once, and only if quiet: a new burst reclaims at its end.
		r.followUp, reclaim = time.Time{}, tick < reclaimBurst
	}
	if reclaim {
		r.lastReclaim, r.peak = now, 0
	}
	return reclaim
}

// reclaimDue decides, from the high-water mark of goroutines since the
// last reclaim and their number now, whether to reclaim, and returns the
// new mark.
func reclaimDue(high, now int) (newHigh int, reclaim bool) {
	switch {
	case now > high:
		return now, false
	case high-now >= reclaimDrop:
		return now, true
	}
	return high, false
}
