package broker

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// The raw read loop.
//
// Go's RawConn.Read resets the socket's readiness before it first calls
// its callback, so each call must try a read(2) before it may wait: a
// device publishing every few milliseconds cost two reads per packet, the
// second one finding nothing (EAGAIN) before the goroutine waited. The
// raw loop stays inside one RawConn.Read while the connection is busy: its
// callback reads, handles every packet the bytes complete, and returns
// false, which waits for the poller's next readiness without another read.
// A readiness already used up costs one read finding nothing, as before.
//
// The callback leaves the loop (returns true) for whatever the ordinary
// read path does better: a packet not all in, a connection about to park,
// an error or a deadline; the ordinary path then goes on from the bytes
// buffered. While the callback runs, the socket's read lock is held, and
// net.Conn.Close waits for it: closeSocket therefore never closes a socket
// whose reader is inside the loop, it asks the reader to (rawState).

// rawState values: whether c's reader is inside the raw loop, and whether a
// close is wanted or done.
const (
	rawOff         int32 = iota // the reader is not in the loop
	rawIn                       // the reader is in the loop
	rawCloseWanted              // closeSocket asked the reader in the loop to close
	rawClosed                   // the socket is closed (or being closed)
)

// rawLoop is one stay in the raw loop, pooled with its callback so that
// entering the loop allocates nothing.
type rawLoop struct {
	c    *conn
	over bool  // the connection is over (process said so)
	err  error // the read error the loop ended on
	fn   func(fd uintptr) bool
}

var rawLoopPool = sync.Pool{New: func() any { return new(rawLoop) }}

// runRawLoop reads and handles packets inside one RawConn.Read until the
// ordinary path must take over; over reports that the connection is over
// (the caller ends it as after process). A false return with nothing done
// is fine: the ordinary path reads next.
func (c *conn) runRawLoop() (over bool) {
	if !c.rawState.CompareAndSwap(rawOff, rawIn) {
		return false
	}
	c.holdWriter(false)
	r := rawLoopPool.Get().(*rawLoop)
	if r.fn == nil {
		r.fn = r.step // bound here: the pool's New would be an initialization cycle
	}
	r.c = c
	_ = c.park.raw.Read(r.fn) // a deadline or a close: the ordinary path finds out
	over, err := r.over, r.err
	*r = rawLoop{fn: r.fn}
	rawLoopPool.Put(r)
	if !c.rawState.CompareAndSwap(rawIn, rawOff) {
		// closeSocket asked while the loop ran: close now that the
		// socket's read lock is free.
		c.rawState.Store(rawClosed)
		_ = c.nc.Close()
	}
	if err != nil && !over {
		c.readFailed(err)
		over = true
	}
	return over
}

// step is the RawConn.Read callback: true leaves the loop.
func (r *rawLoop) step(fd uintptr) bool {
	c := r.c
	if c.rawState.Load() != rawIn {
		return true // a close is wanted
	}
	if c.rbuf != nil {
		return true // bytes buffered: the ordinary path goes on from them
	}
	buf := readBufPool.Get().(*[]byte)
	n, err := rawSyscallRead(fd, *buf)
	for errors.Is(err, syscall.EINTR) {
		n, err = rawSyscallRead(fd, *buf)
	}
	switch {
	case errors.Is(err, syscall.EAGAIN):
		readBufPool.Put(buf)
		return false
	case err != nil:
		readBufPool.Put(buf)
		r.err = os.NewSyscallError("read", err)
		return true
	case n <= 0:
		readBufPool.Put(buf)
		r.err = io.EOF
		return true
	}
	c.rbuf = buf
	c.rpos, c.rend = 0, bufPos(n)
	return r.handleBuffered()
}

// handleBuffered handles every packet the buffered bytes hold whole; false
// (wait in the loop) when they were all used, true (leave) otherwise.
func (r *rawLoop) handleBuffered() bool {
	c := r.c
	for c.rbuf != nil {
		fh, hdrLen, ok, err := c.parseHeader()
		if err != nil || !ok || int(c.rend-c.rpos) < hdrLen+fh.RemainingLength {
			return true // malformed or not all in: the ordinary path
		}
		body, err := c.readBody(hdrLen, fh.RemainingLength) // all buffered: no read
		if hold := err == nil && isAck(fh.Type) && c.rbuf != nil; hold != c.holding {
			c.holdWriter(hold)
		}
		if !c.process(fh, body, err) {
			r.over = true
			return true
		}
		c.parkNow = c.parkSoon
		if c.parkNow || c.rawState.Load() != rawIn {
			return true
		}
	}
	c.holdWriter(false) // about to wait for bytes: let the held writer go
	return false
}

// closeNetConn closes nc, c's net.Conn, unless c's reader is in the raw
// loop; then the reader is asked to, and woken by a past read deadline.
func (c *conn) closeNetConn(nc interface {
	Close() error
	SetReadDeadline(time.Time) error
}) {
	for {
		switch c.rawState.Load() {
		case rawIn:
			if c.rawState.CompareAndSwap(rawIn, rawCloseWanted) {
				_ = nc.SetReadDeadline(time.Unix(1, 0))
				return
			}
		case rawCloseWanted, rawClosed:
			return
		default:
			if c.rawState.CompareAndSwap(rawOff, rawClosed) {
				_ = nc.Close()
				return
			}
		}
	}
}
