package broker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// readBufSize is the size of the pooled read buffer a connection holds only
// while bytes are arriving.
const readBufSize = 4096

var readBufPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// conn is one network connection: the socket, the read state owned by the
// read loop, and the outbound queue drained by an on-demand writer goroutine.
// An idle conn holds no buffers and exactly one parked goroutine (the reader).
type conn struct {
	s      *Server
	nc     net.Conn
	lst    *listenerState // the listener's name, limits and connection count
	remote string
	log    atomic.Pointer[slog.Logger]

	// Read side: owned by the read-loop goroutine (small fields below).
	rbuf      *[]byte
	inAliases map[uint16]string
	sess      *Session // set once CONNECT is accepted
	// username is the CONNECT's user name (nil: none), as usernamePtr
	// gives it: the identity's own field when it holds the same name, so
	// it costs 8 bytes and usually no allocation (userName).
	username *string
	// connectedAt is when CONNECT was accepted (Unix nanoseconds);
	// disconnProps the DISCONNECT's properties when a handler wants
	// disconnected events (events_client.go).
	connectedAt  int64
	disconnProps map[string]any
	auth         authState      // identity and ACL cache (auth.go)
	rate         *clientBuckets // publish rate limits (ratelimit.go); nil until the first limited PUBLISH

	// connect is the will and the CONNECT properties (connectinfo.go;
	// nil: neither), set before the conn is attached, read-only since.
	connect *connectInfo
	// gate orders acknowledgements that wait for other nodes (cluster.go);
	// nil until one does.
	gate atomic.Pointer[ackGate]
	// ackMark is the store's append count when the PUBLISH being handled
	// was read (persist_session.go: ackPublishAfterCommit); commitAcks,
	// next to the flags below, counts the acknowledgements waiting for a
	// store commit.
	ackMark uint64

	// Limits announced by the client in CONNECT (set before the conn is
	// attached to a session, read-only after).
	clientMaxPacket uint32
	// flushedAt is when the writer's last write started (monoMicros);
	// coolLeft how many more writes go out at once (write_coalesce.go).
	// The writer's turn holder's.
	flushedAt  uint32
	outAliases map[string]uint16 // writer-owned

	// takeResume is set when another connection took the session and
	// resumed it (Clean Start 0).
	takeResume atomic.Bool
	// v5Attached is set once a v5 connection has its session, so other
	// goroutines know a DISCONNECT may be sent.
	v5Attached atomic.Bool
	// noWill suppresses the will (server shutdown).
	noWill     atomic.Bool
	commitAcks atomic.Int32
	// rawState says whether the reader is in the raw loop (read_raw_loop.go).
	rawState atomic.Int32

	// The read side's small fields, together so that an idle connection
	// pays for few padding bytes. parkSoon says that the connection parks
	// as soon as it has nothing to read, rather than after ParkIdleAfter;
	// parkNow that the next wait for a packet is that moment (park.go).
	// normalClose is set when the client sent DISCONNECT; willOnClose when
	// it asked for its will (v5 0x04). holding: see holdStart.
	peek           [8]byte
	parkSoon       bool
	parkNow        bool
	normalClose    bool
	willOnClose    bool
	holding        bool
	version        packet.Version
	clientAliasMax uint16
	// rpos and rend are the read position and end of the bytes in rbuf
	// (at most readBufSize: bufPos).
	rpos, rend uint16

	// Parking of the idle reader (park.go). kaPrev and kaNext link a
	// parked connection into its slot of the keep-alive wheel
	// (park_wheel.go), guarded by the wheel's lock.
	parkMu sync.Mutex
	park   parkState
	kaPrev *conn
	kaNext *conn

	// Write side, guarded by outMu.
	outMu   sync.Mutex
	writing bool
	closing bool // no more writes accepted
	// stalled is set when a publisher waited the whole back-pressure
	// bound for room here (backpressure.go).
	stalled bool
	// holdStart is set while the reader handles a run of buffered
	// acknowledgements: a writer that push would start is started once
	// the run ends (startHeld), so the messages those acks let out leave
	// in one write instead of one each. holding is the reader's own copy.
	holdStart bool
	startHeld bool
	coolLeft  uint8
	// keepAliveSecs is the keep alive in force (seconds; 0: off), set in
	// handleConnect before the conn is attached, read-only after
	// (keepAlive). Read side, here for the padding after the flags.
	keepAliveSecs uint16
	// outBytes is what the queued publishes count against the byte
	// budgets.
	outBytes int64
	// wq is the queue and what goes with it, from writeQueuePool while
	// the writer has a turn (nil: idle, nothing queued).
	wq       *writeQueue
	closeErr atomic.Pointer[closeCause]
}

// writeQueue is the write side's queue: what waits to be written (q),
// the array of the previous batch for the next one (spare), what an
// inline write could not hand to the socket at once (leftover: the writer
// goroutine sends it first, write_inline.go), and room, which, when set,
// is closed when the writer takes the queue (backpressure.go). A
// connection holds one only while its writer has a turn, so an idle
// connection pays for one pointer.
type writeQueue struct {
	q        []outItem
	spare    []outItem
	leftover []byte
	room     chan struct{}
	// timer writes the queue of a hot connection, owner, when its
	// window has passed (write_coalesce.go); kept with the pooled queue.
	timer *time.Timer
	owner *conn
}

var writeQueuePool = sync.Pool{New: func() any { return new(writeQueue) }}

// closeCause records why a connection was closed, for the disconnect event.
type closeCause struct {
	reason string
}

// outItem is one packet waiting to be written. Publish deliveries and acks are
// encoded from fields (no allocation); other packets travel as pkt.
type outItem struct {
	pkt packet.Packet

	// PUBLISH delivery.
	d   delivery
	pid uint16
	dup bool

	// PUBACK/PUBREC/PUBREL/PUBCOMP.
	ackType packet.Type
	ackCode packet.ReasonCode

	// closeAfter closes the socket once this item is written.
	closeAfter bool
}

func newConn(s *Server, nc net.Conn, ls *listenerState) *conn {
	c := &conn{
		s:      s,
		nc:     nc,
		lst:    ls,
		remote: nc.RemoteAddr().String(),
	}
	c.initPark()
	return c
}

// logger returns the conn-scoped logger, built on first use so that idle
// connections do not carry one. The reader and the writer may both ask for
// it at once (each failing as the connection ends): the first one stored
// is kept.
func (c *conn) logger() *slog.Logger {
	if l := c.log.Load(); l != nil {
		return l
	}
	c.log.CompareAndSwap(nil, c.s.log.With("remote", c.remote, "listener", c.listenerName()))
	return c.log.Load()
}

// keepAlive is the keep alive in force (0: off).
func (c *conn) keepAlive() time.Duration { return time.Duration(c.keepAliveSecs) * time.Second }

// userName is the CONNECT's user name ("" without one).
func (c *conn) userName() string {
	if c.username == nil {
		return ""
	}
	return *c.username
}

// listenerName is the name of the listener c came in on.
func (c *conn) listenerName() string { return c.lst.name }

// certIdentity is the identity the listener took from the client's
// verified certificate (CertIdentifier), applied in handleConnect in
// place of the CONNECT username or client id; at most one is set.
func (c *conn) certIdentity() (username, clientID string) {
	if ci, ok := c.nc.(CertIdentifier); ok {
		return ci.CertIdentity()
	}
	return "", ""
}

// serve runs one connection from CONNECT to its end.
//
// The CONNECT handshake runs on the accepting goroutine, whose stack grows
// deep while decoding and opening the session; the long-lived read loop then
// continues on a fresh goroutine, whose small stack is what an idle
// connection keeps (measured: this halves the stack held per idle
// connection).
func (c *conn) serve() {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.s.opts.ConnectTimeout))
	if !c.step() || c.sess == nil {
		c.s.connClosed(c)
		return
	}
	if c.park.raw != nil && c.rbuf == nil {
		// Nothing more came with the CONNECT: most devices now wait, so
		// this goroutine parks the connection, unless a packet is already
		// in (see parkSoon).
		c.parkSoon, c.parkNow = true, true
		c.loop()
		return
	}
	go c.loop()
}

// loop reads and handles packets until the connection ends, then cleans
// up, or until it is idle and parked (park.go).
func (c *conn) loop() {
	for {
		if c.rbuf == nil && c.park.plain && !c.parkNow && c.runRawLoop() {
			c.holdWriter(false)
			c.s.connClosed(c)
			return
		}
		fh, body, err := c.readPacket()
		if errors.Is(err, errIdle) {
			if c.parkReader() {
				return
			}
			continue
		}
		if hold := err == nil && isAck(fh.Type) && c.rbuf != nil; hold != c.holding {
			c.holdWriter(hold)
		}
		if !c.process(fh, body, err) {
			c.holdWriter(false)
			c.s.connClosed(c)
			return
		}
		c.parkNow = c.parkSoon
	}
}

// isAck reports whether t is an acknowledgement of an outbound flow.
func isAck(t packet.Type) bool {
	return t == packet.TypePuback || t == packet.TypePubrec || t == packet.TypePubcomp
}

// holdWriter starts (on) or ends a run of buffered acknowledgements; at its
// end the writer that the run held back is started. Called by the reader.
func (c *conn) holdWriter(on bool) {
	if c.holding == on {
		return
	}
	c.holding = on
	c.outMu.Lock()
	c.holdStart = on
	start := !on && c.startHeld
	c.startHeld = false
	c.outMu.Unlock()
	if start {
		c.startWriter()
	}
}

// step reads and handles one packet; false means the connection is over.
func (c *conn) step() bool {
	fh, body, err := c.readPacket()
	return c.process(fh, body, err)
}

// process handles one packet or the read error in its place; false means
// the connection is over.
func (c *conn) process(fh packet.FixedHeader, body []byte, err error) bool {
	if err != nil {
		c.readFailed(err)
		return false
	}
	err = c.handle(fh, body)
	if c.traced() {
		c.traceIn(fh)
	}
	if err != nil {
		c.protocolFailed(err)
		return false
	}
	return !c.isClosing()
}

// readFailed closes the connection after a read error: a malformed or too
// large packet gets a v5 DISCONNECT with its reason code first.
func (c *conn) readFailed(err error) {
	var pe *packet.Error
	switch {
	case errors.As(err, &pe):
		c.s.stats.malformedPackets.Add(1)
		c.logger().Info("closing connection: bad packet", "client_id", c.clientID(), "error", err)
		c.closeWith(pe.Code, "malformed_packet", err.Error())
	case errors.Is(err, errMemoryBudget), errors.Is(err, errConnectingBudget):
		b := &c.s.mem
		if errors.Is(err, errConnectingBudget) {
			b = &c.s.connectMem
		}
		c.s.stats.budgetRefused.Add(1)
		c.s.logLimited(&c.s.budgetLog, "closing a connection sending a large packet: "+err.Error(),
			"client_id", c.clientID(), "remote", c.remote, "used_bytes", b.used.Load(), "limit_bytes", b.limit)
		c.closeWith(packet.QuotaExceeded, "memory_limit", err.Error())
	case errors.Is(err, os.ErrDeadlineExceeded):
		if c.sess == nil {
			c.setCause("connect_timeout")
		} else {
			c.setCause("keepalive_timeout")
		}
		c.closeWith(packet.KeepAliveTimeout, "", "keep alive timeout")
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.setCause("closed")
		c.closeNow()
	default:
		c.setCause("read_error")
		c.logger().Debug("read error", "client_id", c.clientID(), "error", err)
		c.closeNow()
	}
}

// protocolFailed closes the connection after a handler refused a packet.
func (c *conn) protocolFailed(err error) {
	c.s.stats.protocolErrors.Add(1)
	code := packet.CodeOf(err)
	c.logger().Info("closing connection: protocol error", "client_id", c.clientID(), "error", err)
	c.closeWith(code, "protocol_error", err.Error())
}

func (c *conn) clientID() string {
	if c.sess != nil {
		return c.sess.id
	}
	return ""
}

// readPacket returns the next packet's fixed header and its own body buffer.
func (c *conn) readPacket() (packet.FixedHeader, []byte, error) {
	for {
		if fh, hdrLen, ok, err := c.parseHeader(); err != nil {
			return fh, nil, err
		} else if ok {
			body, err := c.readBody(hdrLen, fh.RemainingLength)
			return fh, body, err
		}
		if err := c.fill(); err != nil {
			return packet.FixedHeader{}, nil, err
		}
	}
}

// parseHeader parses a fixed header from the buffered bytes, if complete.
func (c *conn) parseHeader() (fh packet.FixedHeader, hdrLen int, ok bool, err error) {
	if c.rbuf == nil || c.rend-c.rpos < 2 {
		return fh, 0, false, nil
	}
	b := (*c.rbuf)[c.rpos:c.rend]
	remaining, n, err := packet.DecodeVarInt(b[1:])
	if err != nil || n == 0 {
		return fh, 0, false, err // malformed, or not all in yet
	}
	hdrLen = 1 + n
	if limit := c.maxPacketSize(); hdrLen+remaining > limit {
		return fh, 0, false, &packet.Error{Code: packet.PacketTooLarge, Err: fmt.Errorf("%d bytes over the %d limit: %w", hdrLen+remaining, limit, packet.ErrTooLarge)}
	}
	fh, err = packet.ParseFixedHeader(b[0], remaining)
	if err != nil {
		return fh, 0, false, err
	}
	return fh, hdrLen, true, nil
}

// readBody consumes the header and returns a fresh buffer with the body,
// reading the rest from the socket when it is not all buffered. A body
// larger than the read buffer that is not all here grows as its bytes
// arrive (a client announcing 1 MiB and sending ten bytes costs ten), and
// what it holds counts against the memory budget until it is complete.
func (c *conn) readBody(hdrLen, n int) ([]byte, error) {
	c.rpos += bufPos(hdrLen)
	c.s.stats.bytesIn.Add(uint64(hdrLen + n))
	size := n
	if n > readBufSize {
		size = min(n, max(int(c.rend-c.rpos), readBufSize))
	}
	body := make([]byte, size)
	got := copy(body, (*c.rbuf)[c.rpos:c.rend])
	c.rpos += bufPos(got)
	if c.rpos == c.rend {
		c.releaseReadBuf()
	}
	if got == n {
		return body, nil
	}
	c.holdWriter(false) // about to wait for bytes
	var charged int64
	defer func() { c.releaseBody(charged) }()
	for got < n {
		if got == len(body) {
			grown := min(2*len(body), n)
			if err := c.chargeBody(charged, int64(grown)); err != nil {
				return nil, err
			}
			charged = int64(grown)
			nb := make([]byte, grown)
			copy(nb, body[:got])
			body = nb
		}
		m, err := c.readSome(body[got:])
		got += m
		if m == 0 && err == nil {
			err = io.ErrNoProgress
		}
		if err != nil && got < n {
			return nil, err
		}
	}
	return body, nil
}

// errMemoryBudget closes a connection whose large packet finds the memory
// budget spent; errConnectingBudget one whose large CONNECT finds the
// budget of clients not yet authenticated spent.
var (
	errMemoryBudget     = errors.New("memory budget spent (mqtt.max_buffered_bytes)")
	errConnectingBudget = errors.New("budget of CONNECT packets spent (mqtt.max_connecting_bytes)")
)

// chargeBody moves the charge of a large inbound packet's body from had to
// want bytes: against the global budget and, for a CONNECT (no session
// yet), against the budget of clients not yet authenticated.
func (c *conn) chargeBody(had, want int64) error {
	more := want - had
	connecting := c.sess == nil
	if connecting && !c.s.connectMem.tryAdd(more) {
		return errConnectingBudget
	}
	if !c.s.mem.tryAdd(more) {
		if connecting {
			c.s.connectMem.add(-more)
		}
		return errMemoryBudget
	}
	return nil
}

// releaseBody gives back what chargeBody charged.
func (c *conn) releaseBody(n int64) {
	c.s.mem.add(-n)
	if c.sess == nil {
		c.s.connectMem.add(-n)
	}
}

// fill reads more bytes. With nothing buffered it blocks on the small inline
// peek array, so an idle connection holds no pooled buffer; there, the idle
// deadline of a parkable connection returns errIdle.
func (c *conn) fill() error {
	c.holdWriter(false) // about to wait for bytes: let the held writer go
	if c.rbuf == nil && c.park.plain {
		return c.fillRaw() // read_raw.go
	}
	if c.rbuf == nil && c.parkNow {
		// Take what a layer above the socket holds (TLS records), or
		// time out at once and park (park.go).
		c.parkNow = false
		c.park.idleAt = 0
		_ = c.nc.SetReadDeadline(time.Now())
	}
	if c.rbuf == nil {
		n, err := c.nc.Read(c.peek[:])
		if n == 0 {
			if c.idleTimeout(err) {
				c.parkSoon = false
				return errIdle
			}
			if err == nil {
				err = io.ErrNoProgress
			}
			return err
		}
		c.rbuf = readBufPool.Get().(*[]byte)
		c.rpos, c.rend = 0, bufPos(copy(*c.rbuf, c.peek[:n]))
		return nil
	}
	if c.rpos > 0 {
		c.rend = bufPos(copy(*c.rbuf, (*c.rbuf)[c.rpos:c.rend]))
		c.rpos = 0
	}
	n, err := c.readSome((*c.rbuf)[c.rend:])
	c.rend += bufPos(n)
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// bufPos converts a position in the read buffer (at most readBufSize)
// for conn.rpos and conn.rend.
func bufPos(n int) uint16 {
	return uint16(n) //nolint:gosec // 0 ≤ n ≤ readBufSize < 1<<16
}

func (c *conn) releaseReadBuf() {
	if c.rbuf != nil {
		readBufPool.Put(c.rbuf)
		c.rbuf = nil
		c.rpos, c.rend = 0, 0
	}
}

func (c *conn) setCause(reason string) {
	c.closeErr.CompareAndSwap(nil, &closeCause{reason: reason})
}

func (c *conn) cause() string {
	if cc := c.closeErr.Load(); cc != nil {
		return cc.reason
	}
	return "closed"
}

func (c *conn) isClosing() bool {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	return c.closing
}
