package broker

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
)

// Raw reads.
//
// A plain TCP connection with nothing buffered reads through
// syscall.RawConn.Read: the callback takes a pooled read buffer, makes one
// read(2) into it, and gives it back when the socket has nothing (the
// goroutine then waits in Go's poller holding no buffer, as before). A
// small packet so costs one read(2) where reading through net.Conn needed
// two (the 8-byte peek that an idle reader waits on, then the rest), and
// everything the socket holds arrives in one call. Deadlines and Close
// work as for net.Conn.Read: RawConn.Read waits in the same poller.

// rawRead is one read(2) into a pooled buffer, pooled with its callback so
// that reading allocates nothing.
type rawRead struct {
	buf *[]byte
	n   int
	err error
	fn  func(fd uintptr) bool
	// noWait returns at once when the socket has nothing (wouldBlock).
	noWait, wouldBlock bool
}

var rawReadPool = sync.Pool{New: func() any {
	r := new(rawRead)
	r.fn = r.read
	return r
}}

// read is the RawConn.Read callback: false (wait for the socket) when it
// has nothing, with the buffer back in its pool.
func (r *rawRead) read(fd uintptr) bool {
	buf := readBufPool.Get().(*[]byte)
	for {
		n, err := rawSyscallRead(fd, *buf)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			readBufPool.Put(buf)
			r.wouldBlock = r.noWait
			return r.noWait
		case err != nil || n <= 0:
			readBufPool.Put(buf)
			r.err = err
			if err == nil {
				r.err = io.EOF
			} else {
				r.err = os.NewSyscallError("read", err)
			}
			return true
		}
		r.buf, r.n = buf, n
		return true
	}
}

// fillRaw is fill for a plain TCP connection with nothing buffered.
func (c *conn) fillRaw() error {
	r := rawReadPool.Get().(*rawRead)
	r.noWait = c.parkNow
	err := c.park.raw.Read(r.fn)
	buf, n, rerr, idle := r.buf, r.n, r.err, r.wouldBlock
	*r = rawRead{fn: r.fn}
	rawReadPool.Put(r)
	if idle {
		c.parkNow, c.parkSoon = false, false
		return errIdle // nothing came: park at once (parkSoon)
	}
	if err == nil {
		err = rerr
	}
	if err != nil {
		if c.idleTimeout(err) {
			return errIdle
		}
		return err
	}
	c.rbuf = buf
	c.rpos, c.rend = 0, bufPos(n)
	return nil
}
