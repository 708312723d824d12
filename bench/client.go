package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// ClientOptions are the connection settings every load generator shares.
type ClientOptions struct {
	// Addr is the broker's host:port.
	Addr string
	// Version is the MQTT version (default 3.1.1).
	Version packet.Version
	// ClientPrefix prefixes the client ids (prefix + index) unless a
	// scenario names its devices itself.
	ClientPrefix string
	// KeepAlive is sent in CONNECT; the client pings at half of it.
	KeepAlive time.Duration
	// Username and Password are sent in CONNECT when set.
	Username string
	Password string
	// CleanStart asks for a new session (default true).
	CleanStart bool
	// Inflight caps the unacknowledged QoS 1/2 publishes of one client.
	Inflight int
	// ConnectConcurrency bounds the connection attempts in flight.
	ConnectConcurrency int
	// TLS makes the clients connect over TLS.
	TLS TLSOptions
}

func (o *ClientOptions) defaults() {
	if o.Version == 0 {
		o.Version = packet.V311
	}
	if o.Inflight <= 0 {
		o.Inflight = 32
	}
	if o.ConnectConcurrency <= 0 {
		o.ConnectConcurrency = 64
	}
	if o.ClientPrefix == "" {
		o.ClientPrefix = "bench-"
	}
}

// client is one MQTT connection speaking through iothub's codec. Its read
// loop acknowledges inbound QoS 1/2 publishes and hands them to onMessage,
// and releases inflight slots on PUBACK/PUBCOMP.
type client struct {
	id        string
	nc        net.Conn
	version   packet.Version
	wmu       sync.Mutex
	w         *bufio.Writer
	wbuf      []byte
	slots     chan struct{} // one token per free inflight slot
	nextID    uint16
	onMessage func(p *packet.Publish)
	subacks   chan []packet.ReasonCode
	// acked counts PUBACK/PUBCOMP with a success reason code.
	acked atomic.Uint64
	done  chan struct{}
	err   error
}

// dialClient connects through d and completes CONNECT/CONNACK within ctx.
func dialClient(ctx context.Context, d *dialer, o *ClientOptions, id string, local net.Addr) (*client, error) {
	nc, err := d.dial(ctx, local)
	if err != nil {
		return nil, err
	}
	c := &client{id: id, nc: nc, version: o.Version, w: bufio.NewWriterSize(nc, 16<<10),
		slots: make(chan struct{}, o.Inflight), subacks: make(chan []packet.ReasonCode, 1), done: make(chan struct{})}
	for range o.Inflight {
		c.slots <- struct{}{}
	}
	cp := packet.Connect{ProtocolName: "MQTT", Version: o.Version, CleanStart: o.CleanStart,
		KeepAlive: uint16(o.KeepAlive / time.Second), ClientID: id}
	if o.Username != "" {
		cp.Username, cp.UsernameFlag = o.Username, true
	}
	if o.Password != "" {
		cp.Password, cp.PasswordFlag = []byte(o.Password), true
	}
	if err := c.connect(&cp); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *client) connect(cp *packet.Connect) error {
	buf, err := cp.AppendTo(nil, c.version)
	if err != nil {
		return fmt.Errorf("encode connect: %w", err)
	}
	_ = c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(buf); err != nil {
		return fmt.Errorf("write connect: %w", err)
	}
	p, err := packet.ReadPacket(c.nc, c.version, 1<<16)
	if err != nil {
		return fmt.Errorf("read connack: %w", err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok || ack.ReasonCode != 0 {
		return fmt.Errorf("connect refused: %v", p)
	}
	_ = c.nc.SetDeadline(time.Time{})
	return nil
}

// start runs the read loop (and a pinger when keepAlive > 0).
func (c *client) start(keepAlive time.Duration) {
	go c.readLoop()
	if keepAlive > 0 {
		go c.pingLoop(keepAlive / 2)
	}
}

func (c *client) pingLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			_ = c.write(func(b []byte) []byte { return append(b, 0xC0, 0) })
		}
	}
}

// write appends a packet with enc and flushes it.
func (c *client) write(enc func([]byte) []byte) error { return c.writeMaybeFlush(enc, true) }

// writeMaybeFlush appends a packet with enc, flushing when flush is set
// (or when the buffer is full).
func (c *client) writeMaybeFlush(enc func([]byte) []byte, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = enc(c.wbuf[:0])
	if _, err := c.w.Write(c.wbuf); err != nil {
		return err
	}
	if !flush {
		return nil
	}
	return c.w.Flush()
}

// flush writes what is buffered.
func (c *client) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush()
}

// subscribe sends SUBSCRIBE and waits for SUBACK.
func (c *client) subscribe(ctx context.Context, filter string, qos byte) error {
	s := packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}
	var encErr error
	if err := c.write(func(b []byte) []byte {
		out, err := s.AppendTo(b, c.version)
		encErr = err
		return out
	}); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if encErr != nil {
		return fmt.Errorf("subscribe %q: %w", filter, encErr)
	}
	select {
	case codes := <-c.subacks:
		if len(codes) != 1 || codes[0] > 2 {
			return fmt.Errorf("subscribe %q refused: %v", filter, codes)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("subscribe %q: connection closed: %w", filter, c.err)
	case <-ctx.Done():
		return fmt.Errorf("subscribe %q: %w", filter, ctx.Err())
	}
}

// publish sends one PUBLISH; for QoS 1/2 it first takes an inflight slot
// (flushing and waiting while the window is full) that the acknowledgement
// frees. Without flush the packet may wait in the buffer for the next one.
func (c *client) publish(ctx context.Context, topic string, payload []byte, qos byte, retain, flush bool) error {
	if qos > 0 {
		if err := c.takeSlot(ctx); err != nil {
			return err
		}
	}
	var encErr error
	err := c.writeMaybeFlush(func(b []byte) []byte {
		p := packet.Publish{QoS: qos, Retain: retain, Topic: topic, Payload: payload}
		if qos > 0 {
			c.nextID++
			if c.nextID == 0 {
				c.nextID = 1
			}
			p.PacketID = c.nextID
		}
		out, err := p.AppendTo(b, c.version)
		encErr = err
		return out
	}, flush)
	if err == nil {
		err = encErr
	}
	if err != nil {
		if qos > 0 {
			c.slots <- struct{}{} // not sent: no acknowledgement will free it
		}
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// takeSlot takes an inflight slot, flushing first when it has to wait.
func (c *client) takeSlot(ctx context.Context) error {
	select {
	case <-c.slots:
		return nil
	default:
	}
	if err := c.flush(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	select {
	case <-c.slots:
		return nil
	case <-c.done:
		return fmt.Errorf("publish: connection closed: %w", c.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close sends DISCONNECT and closes the socket.
func (c *client) close() {
	_ = c.write(func(b []byte) []byte { return append(b, 0xE0, 0) })
	_ = c.nc.Close()
	<-c.done
}

// readLoop decodes inbound packets until the connection ends.
func (c *client) readLoop() {
	defer close(c.done)
	r := bufio.NewReaderSize(c.nc, 32<<10)
	var body []byte
	var pub packet.Publish
	for {
		first, err := r.ReadByte()
		if err != nil {
			c.setErr(err)
			return
		}
		n, err := packet.ReadVarInt(r)
		if err != nil {
			c.setErr(err)
			return
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			c.setErr(err)
			return
		}
		if err := c.handle(first, body, &pub); err != nil {
			c.setErr(err)
			_ = c.nc.Close()
			return
		}
	}
}

func (c *client) setErr(err error) {
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.err = err
	}
}

// handle processes one inbound packet.
func (c *client) handle(first byte, body []byte, pub *packet.Publish) error {
	fh, err := packet.ParseFixedHeader(first, len(body))
	if err != nil {
		return err
	}
	switch fh.Type {
	case packet.TypePublish:
		*pub = packet.Publish{}
		if err := pub.Decode(fh, body, c.version); err != nil {
			return err
		}
		if c.onMessage != nil {
			c.onMessage(pub)
		}
		return c.ackInbound(pub)
	case packet.TypePuback, packet.TypePubcomp:
		if len(body) < 3 || body[2] < 0x80 { // v5 reason code, when present
			c.acked.Add(1)
		}
		select {
		case c.slots <- struct{}{}:
		default:
		}
	case packet.TypePubrec:
		var a packet.Ack
		if err := a.Decode(fh, body, c.version); err != nil {
			return err
		}
		return c.sendAck(packet.TypePubrel, a.PacketID)
	case packet.TypePubrel:
		var a packet.Ack
		if err := a.Decode(fh, body, c.version); err != nil {
			return err
		}
		return c.sendAck(packet.TypePubcomp, a.PacketID)
	case packet.TypeSuback:
		var s packet.Suback
		if err := s.Decode(fh, body, c.version); err != nil {
			return err
		}
		select {
		case c.subacks <- s.ReasonCodes:
		default:
		}
	case packet.TypeDisconnect:
		return errors.New("broker sent DISCONNECT")
	}
	return nil
}

func (c *client) ackInbound(p *packet.Publish) error {
	switch p.QoS {
	case 1:
		return c.sendAck(packet.TypePuback, p.PacketID)
	case 2:
		return c.sendAck(packet.TypePubrec, p.PacketID)
	}
	return nil
}

func (c *client) sendAck(t packet.Type, id uint16) error {
	return c.write(func(b []byte) []byte {
		a := packet.Ack{PacketType: t, PacketID: id}
		out, _ := a.AppendTo(b, c.version)
		return out
	})
}

// waitAcks waits, at most for timeout, until the inflight window of size
// window is free again (every publish acknowledged).
func (c *client) waitAcks(window int, timeout time.Duration) {
	end := time.After(timeout)
	for range window {
		select {
		case <-c.slots:
		case <-c.done:
			return
		case <-end:
			return
		}
	}
	for range window {
		c.slots <- struct{}{}
	}
}
