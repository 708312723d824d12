package broker

import (
	"errors"
	"os"
	"sync"
	"syscall"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// Inline writes.
//
// A delivery or an acknowledgement that finds a connection's writer idle
// and its queue empty is written at once by the goroutine that queued it,
// with one non-blocking write(2) on the raw socket, instead of starting the
// writer goroutine: the usual case at moderate rates, where the hand-over
// to a fresh goroutine is most of the time a message spends in the hub
// (measured: 45% of QoS 1 deliveries under 100 µs with the hand-over, 80%
// inline). The caller never blocks on the network: what the socket does
// not take at once is left to the writer goroutine, which sends it before
// anything queued later, so the order of packets is kept.
//
// A message routed to more than maxInlineFanout sessions is handed to their
// writer goroutines instead: they write in parallel on every core and
// batch what piles up, where one goroutine writing to each in turn would
// make one system call per delivery (measured on the 1 → 1,000 fan-out:
// half the deliveries per CPU-second). For the same reason an ack is
// written inline only when the reader has no more packets buffered, and
// retained messages sent on SUBSCRIBE never are.
//
// The CONNACK of an accepted connection is written inline too, by the
// goroutine that handled the CONNECT (after it released the session's
// locks), rather than by a writer goroutine started, handed the packet and
// given a write deadline for that one write.
//
// Only plain TCP connections write inline (TLS bytes must go through the
// TLS layer). Other packets built as packet.Packet (SUBACK, PINGRESP,
// DISCONNECT...), packets that close the connection, and deliveries while a
// handler wants message.delivered events (emitting may wait for room in the
// event queue, never allowed under the session lock the caller may hold),
// go through the writer goroutine as before.

// maxInlineFanout is the most sessions a message may be routed to for its
// deliveries to be written inline.
const maxInlineFanout = 4

// startWriter takes the writer's turn that push handed to the caller:
// inline when possible, else on the writer goroutine. The caller holds no
// lock (encoding a publish may take the session's).
func (c *conn) startWriter() {
	if err := c.attachToWrite(); err != nil {
		c.writeFailed(err)
		return
	}
	if c.deferWrite() {
		return
	}
	if !c.writeInline() {
		go c.writeLoop()
	}
}

// inlineWritable reports whether it may be written by the goroutine that
// queued it. Called with outMu held.
func (c *conn) inlineWritable(it *outItem) bool {
	if it.closeAfter {
		return false
	}
	if it.pkt != nil {
		_, connack := it.pkt.(*packet.Connack)
		return connack
	}
	return it.d.m == nil || !c.s.events.wants(msg.EventMessageDelivered)
}

// maxInlineRounds bounds how many times an inline writer also writes what
// other goroutines queued while it wrote, before it leaves the rest to the
// writer goroutine.
const maxInlineRounds = 4

// writeInline is the writer for what is queued now, without blocking. It
// reports whether it finished the writer's turn; false means the caller
// starts the writer goroutine (a packet that must not be written inline,
// a socket that did not take everything, or more queued than a few rounds
// wrote).
func (c *conn) writeInline() bool {
	if !c.park.plain {
		return false
	}
	for range maxInlineRounds {
		items, ok := c.takeInline()
		if !ok {
			return false
		}
		if !c.writeItemsNow(items) {
			return true // failed: the writer's turn never ends
		}
		c.outMu.Lock()
		c.wq.spare = items[:0]
		switch {
		case c.wq.leftover != nil:
			c.outMu.Unlock()
			return false
		case len(c.wq.q) == 0:
			closing := c.endTurnLocked()
			c.outMu.Unlock()
			if closing {
				c.abort()
			} else {
				c.releaseParked()
			}
			return true
		}
		c.outMu.Unlock()
	}
	return false
}

// takeInline takes the queue when every packet in it may be written inline.
func (c *conn) takeInline() ([]outItem, bool) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	var q []outItem
	if c.wq != nil {
		q = c.wq.q
	}
	for i := range q {
		if !c.inlineWritable(&q[i]) {
			return nil, false
		}
	}
	return c.takeQueueLocked(), true
}

// writeItemsNow encodes items and writes what the socket takes now; the
// rest becomes the leftover. False when the connection failed.
func (c *conn) writeItemsNow(items []outItem) bool {
	bp := writeBufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	now := c.s.clock.Now()
	for i := range items {
		buf = c.encodeItem(buf, &items[i], now)
	}
	n, err := c.writeNow(buf)
	if err == nil && n < len(buf) {
		// The writer's turn goes on (the caller starts the writer), so
		// c.wq stays: its leftover is the writer's alone.
		c.wq.leftover = append([]byte(nil), buf[n:]...)
	}
	*bp = buf[:0]
	writeBufPool.Put(bp)
	if err != nil {
		c.writeFailed(err)
		return false
	}
	c.afterWrite(items, now)
	clear(items)
	return true
}

// rawWrite is one non-blocking write(2) through syscall.RawConn.Write,
// pooled with its callback so that writing allocates nothing.
type rawWrite struct {
	buf []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

var rawWritePool = sync.Pool{New: func() any {
	w := new(rawWrite)
	w.fn = w.write
	return w
}}

func (w *rawWrite) write(fd uintptr) bool {
	w.n, w.err = rawSyscallWrite(fd, w.buf)
	return true // one attempt, never wait
}

// writeNow writes what the socket takes without waiting. A socket that
// takes nothing now, or whose write deadline passed, is not an error: the
// writer goroutine waits for it.
func (c *conn) writeNow(buf []byte) (int, error) {
	w := rawWritePool.Get().(*rawWrite)
	w.buf = buf
	err := c.park.raw.Write(w.fn)
	n, werr := max(w.n, 0), w.err
	*w = rawWrite{fn: w.fn}
	rawWritePool.Put(w)
	c.s.stats.bytesOut.Add(uint64(n))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, nil
	case err != nil:
		return n, err
	case errors.Is(werr, syscall.EAGAIN), errors.Is(werr, syscall.EINTR):
		return n, nil
	}
	return n, werr
}

// flushLeftover sends what an inline write left, before the queue; false
// when the connection failed.
func (c *conn) flushLeftover() bool {
	c.outMu.Lock()
	wq := c.wq
	c.outMu.Unlock()
	if wq == nil || wq.leftover == nil {
		return true
	}
	err := c.writeBuf(wq.leftover)
	wq.leftover = nil
	if err != nil {
		c.writeFailed(err)
		return false
	}
	return true
}
