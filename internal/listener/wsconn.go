package listener

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// wsConn carries the MQTT byte stream in WebSocket binary frames (RFC 6455,
// server side) directly over the upgraded connection. It holds no buffer:
// frame headers go into a small array in the struct and payloads are read
// straight into the caller's slice, so an idle connection costs a few
// dozen bytes here, and the broker can park it on the socket (no bytes
// wait above the socket between two reads). A read deadline that passes
// leaves it intact (a header read in part is kept), which the broker's idle
// detection relies on. The upgrade itself is the websocket library's.
//
// It is also the broker's net.Conn for the connection (the client's address
// and certificate in peer), so that an idle WebSocket connection keeps one
// object here, not a frame reader inside a listener wrapper.
type wsConn struct {
	net.Conn // the upgraded connection: reads, writes, deadlines, addresses
	peer

	// Read side, owned by the one reader.
	left    uint64 // payload bytes of the current data frame still to read
	hdr     [14]byte
	have    uint8 // header bytes read so far
	maskPos uint8 // only its low two bits count
	mask    [4]byte
	inData  bool // a fragmented binary message continues
	eof     bool

	closed bool
	wmu    sync.Mutex // one frame at a time: data from the broker, pongs and close from the reader
}

// RemoteAddr returns the client's address: the one a trusted proxy
// reported, or the socket's peer.
func (c *wsConn) RemoteAddr() net.Addr { return c.remoteAddr(c.Conn) }

// Encrypted reports whether the upgraded connection runs over TLS (wss).
func (c *wsConn) Encrypted() bool { return encrypted(c.Conn) }

// Frame opcodes.
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xA
)

// errWSProtocol is a frame that breaks RFC 6455 or MQTT's use of it
// (section 6 of MQTT: binary frames only).
var errWSProtocol = errors.New("websocket protocol error")

// Read returns MQTT bytes from the binary frames, answering pings and a
// close on the way; io.EOF after the client's close frame.
func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.eof {
			return 0, io.EOF
		}
		if c.left > 0 {
			return c.readPayload(p)
		}
		if err := c.readFrame(); err != nil {
			return 0, err
		}
	}
}

// readPayload reads what p holds of the current frame and unmasks it.
func (c *wsConn) readPayload(p []byte) (int, error) {
	if uint64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	for i := range n {
		p[i] ^= c.mask[c.maskPos&3]
		c.maskPos++
	}
	c.left -= uint64(n)
	return n, err
}

// readFrame reads the next frame header; a control frame is handled
// whole, a data frame leaves its payload to readPayload.
func (c *wsConn) readFrame() error {
	if err := c.fillHeader(2); err != nil {
		return err
	}
	b0, b1 := c.hdr[0], c.hdr[1]
	if b0&0x70 != 0 || b1&0x80 == 0 {
		c.have = 0
		return c.fail("reserved bits set or unmasked client frame")
	}
	need := uint8(2 + 4) // masked
	switch b1 & 0x7f {
	case 126:
		need += 2
	case 127:
		need += 8
	}
	if err := c.fillHeader(need); err != nil {
		return err
	}
	c.have = 0
	fin, op := b0&0x80 != 0, b0&0x0f
	var n uint64
	switch l := b1 & 0x7f; l {
	case 126:
		n = uint64(binary.BigEndian.Uint16(c.hdr[2:4]))
	case 127:
		n = binary.BigEndian.Uint64(c.hdr[2:10])
		if n>>63 != 0 {
			return c.fail("frame length over 2^63")
		}
	default:
		n = uint64(l)
	}
	copy(c.mask[:], c.hdr[need-4:need])
	c.maskPos = 0
	if op >= wsClose {
		return c.control(op, fin, n)
	}
	switch {
	case op == wsBinary && !c.inData, op == wsContinuation && c.inData:
	default:
		return c.fail(fmt.Sprintf("data frame opcode %d (MQTT uses binary frames)", op))
	}
	c.inData = !fin
	c.left = n
	return nil
}

// fillHeader reads header bytes until there are n; a deadline that passes
// keeps what was read.
func (c *wsConn) fillHeader(n uint8) error {
	for c.have < n {
		m, err := c.Conn.Read(c.hdr[c.have:n])
		c.have += uint8(m) //nolint:gosec // at most len(c.hdr)
		if err != nil && c.have < n {
			return err
		}
	}
	return nil
}

// control handles a ping, pong or close frame of n payload bytes.
func (c *wsConn) control(op byte, fin bool, n uint64) error {
	if !fin || n > 125 {
		return c.fail("fragmented or long control frame")
	}
	var buf [125]byte
	payload := buf[:n]
	if _, err := io.ReadFull(c.Conn, payload); err != nil {
		return err
	}
	for i := range payload {
		payload[i] ^= c.mask[i&3]
	}
	switch op {
	case wsPing:
		return c.writeFrame(wsPong, payload)
	case wsClose:
		c.eof = true
		if len(payload) >= 2 {
			payload = payload[:2] // echo the status code
		}
		_ = c.writeFrame(wsClose, payload)
		return io.EOF
	case wsPong:
		return nil
	}
	return c.fail(fmt.Sprintf("control opcode %d", op))
}

// fail answers a protocol error with a close frame (1002) and returns it.
func (c *wsConn) fail(why string) error {
	_ = c.writeFrame(wsClose, []byte{0x03, 0xea})
	return fmt.Errorf("%w: %s", errWSProtocol, why)
}

// Write sends p as one binary frame (header and payload in one writev).
func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.writeFrame(wsBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeFrame writes one final, unmasked frame.
func (c *wsConn) writeFrame(op byte, p []byte) error {
	var hdr [10]byte
	hdr[0] = 0x80 | op
	h := 2
	switch n := len(p); {
	case n <= 125:
		hdr[1] = byte(n)
	case n <= 0xffff:
		hdr[1] = 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(n))
		h = 4
	default:
		hdr[1] = 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
		h = 10
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	err := c.writeParts(hdr[:h], p)
	if op == wsClose {
		c.closed = true
	}
	return err
}

// wsWriteCopyMax is the largest frame written with one write(2), header
// and payload copied into a pooled buffer; a larger one is written as two
// writes. Not writev: Go's poller keeps the iovec array of a socket's
// last writev for the socket's life (56 bytes on every idle connection).
const wsWriteCopyMax = 4096

var wsWritePool = sync.Pool{New: func() any { b := make([]byte, 0, wsWriteCopyMax+10); return &b }}

// writeParts writes a frame's header and payload.
func (c *wsConn) writeParts(hdr, p []byte) error {
	if len(p) > wsWriteCopyMax {
		if _, err := c.Conn.Write(hdr); err != nil {
			return err
		}
		_, err := c.Conn.Write(p)
		return err
	}
	bp := wsWritePool.Get().(*[]byte)
	b := append(append((*bp)[:0], hdr...), p...)
	_, err := c.Conn.Write(b)
	*bp = b[:0]
	wsWritePool.Put(bp)
	return err
}

// Close sends a normal close frame when no write is under way (it never
// waits for one) and closes the connection.
func (c *wsConn) Close() error {
	if c.wmu.TryLock() {
		if !c.closed {
			c.closed = true
			_ = c.Conn.SetWriteDeadline(time.Now().Add(closeFrameTimeout))
			_, _ = c.Conn.Write([]byte{0x80 | wsClose, 2, 0x03, 0xe8})
		}
		c.wmu.Unlock()
	}
	return c.Conn.Close()
}

// closeFrameTimeout bounds the write of the close frame.
const closeFrameTimeout = 100 * time.Millisecond

// DetachSocket puts standIn in place of the TCP socket under the
// connection and returns the socket (broker.SocketSwapper): a parked
// WebSocket connection gives its socket back to Go's runtime (for wss,
// the socket under TLS). nil when a PROXY-protocol reader sits above it.
func (c *wsConn) DetachSocket(standIn net.Conn) *net.TCPConn {
	switch u := c.Conn.(type) {
	case *net.TCPConn:
		c.Conn = standIn
		return u
	case *Conn: // wss: the socket under TLS
		return u.DetachSocket(standIn)
	}
	return nil
}

// AttachSocket puts nc under the connection, in DetachSocket's standIn's
// place (broker.SocketSwapper).
func (c *wsConn) AttachSocket(nc net.Conn) {
	if u, ok := c.Conn.(*Conn); ok {
		u.AttachSocket(nc)
		return
	}
	c.Conn = nc
}

// Socket returns the TCP socket under the connection (broker.SocketConn):
// wsConn buffers nothing, so an idle WebSocket connection parks like a
// TCP or TLS one.
func (c *wsConn) Socket() *net.TCPConn {
	switch u := c.Conn.(type) {
	case *net.TCPConn:
		return u
	case *Conn:
		return u.Socket()
	}
	return nil
}
