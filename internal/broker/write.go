package broker

import (
	"errors"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// flushThreshold is how many encoded bytes the writer gathers before one
// socket write.
const flushThreshold = 32 << 10

var writeBufPool = sync.Pool{New: func() any { b := make([]byte, 0, flushThreshold+4096); return &b }}

// enqueue adds an item to the outbound queue and starts the writer if it is
// not running. It returns false when the connection is closing, or when the
// item is a QoS 0 publish and the queue is full (the caller counts the drop).
// Control packets and QoS 1/2 publishes are always queued: the inflight window
// bounds them.
func (c *conn) enqueue(it outItem) bool {
	ok, start := c.push(it)
	if start {
		go c.writeLoop()
	}
	return ok
}

// send is enqueue for a caller that holds no lock: the packet may be
// written at once, on the caller's goroutine (write_inline.go).
func (c *conn) send(it outItem) bool {
	ok, start := c.push(it)
	if start {
		c.startWriter()
	}
	return ok
}

// push adds it to the queue, as enqueue does, and reports in start whether
// the writer is idle: the caller must then call startWriter (or start
// writeLoop), once it holds no lock.
func (c *conn) push(it outItem) (ok, start bool) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.closing {
		return false, false
	}
	if it.d.m != nil && it.d.qos == 0 && c.pendingFullLocked(&it) {
		return false, false
	}
	if c.wq == nil {
		c.wq = writeQueuePool.Get().(*writeQueue)
	}
	if c.wq.q == nil {
		c.wq.q = newQueue()
	}
	c.wq.q = append(c.wq.q, it)
	if it.d.m != nil {
		n := deliverySize(it.d.m)
		c.outBytes += n
		c.s.mem.add(n)
	}
	if it.closeAfter {
		c.closing = true
	}
	start = !c.writing
	c.writing = true
	if start && c.holdStart {
		c.startHeld, start = true, false // the reader starts it (holdWriter)
	}
	return true, start
}

// writeLoop drains the queue in batches: it encodes queued packets into one
// pooled buffer and writes it with one system call, and exits when the queue
// is empty, so an idle connection has no writer goroutine.
func (c *conn) writeLoop() {
	if err := c.attachToWrite(); err != nil {
		c.writeFailed(err)
		return
	}
	bp := writeBufPool.Get().(*[]byte)
	defer writeBufPool.Put(bp)
	if !c.flushLeftover() {
		return
	}
	for {
		c.outMu.Lock()
		items := c.takeQueueLocked()
		if len(items) == 0 {
			closing := c.endTurnLocked()
			c.outMu.Unlock()
			if closing {
				c.abort()
			} else {
				c.releaseParked()
			}
			return
		}
		c.outMu.Unlock()

		closeAfter, err := c.writeItems(bp, items)
		clear(items)
		c.outMu.Lock()
		c.wq.spare = items[:0]
		c.outMu.Unlock()
		if err != nil {
			c.writeFailed(err)
			return
		}
		if closeAfter {
			c.abort()
			return
		}
	}
}

// writeFailed closes the connection after a failed socket write. The
// writer's turn never ends (writing stays set): nothing more is written.
// A write that timed out is a slow consumer (its socket took no bytes for
// write_timeout): its disconnect is counted as slow_consumer and logged
// (rate-limited).
func (c *conn) writeFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.setCause("slow_consumer")
		c.s.slowLog.Warn(c.logger(), "closing a slow consumer: its socket took no bytes for write_timeout",
			"client_id", c.clientID(), "write_timeout", c.s.opts.WriteTimeout)
	} else {
		c.setCause("write_error")
		c.logger().Debug("write failed", "client_id", c.clientID(), "error", err)
	}
	c.outMu.Lock()
	c.closing = true
	c.takeQueueLocked() // nothing more is written: release what waits
	c.outMu.Unlock()
	c.abort()
}

// endTurnLocked ends the writer's turn with the queue empty and reports
// whether the connection is closing (the caller then aborts it, after
// releasing outMu).
func (c *conn) endTurnLocked() (closing bool) {
	c.writing = false
	c.shrinkQueues()
	return c.closing
}

// shrinkQueues drops the queue backing arrays and the writeQueue when
// going idle, so an idle connection holds none (the next burst takes them
// from their pools). Called with outMu held.
func (c *conn) shrinkQueues() {
	wq := c.wq
	if wq == nil {
		return
	}
	recycleQueue(wq.q)
	recycleQueue(wq.spare)
	wq.q, wq.spare = nil, nil
	if wq.leftover == nil && wq.room == nil {
		c.wq = nil
		writeQueuePool.Put(wq)
	}
}

// queueChunk is the backing array of a short write queue. An idle
// connection holds none; a busy one takes one from queuePool instead of
// allocating it for every message it is sent.
type queueChunk = [8]outItem

var queuePool = sync.Pool{New: func() any { return new(queueChunk) }}

// newQueue returns an empty queue backed by a pooled array.
func newQueue() []outItem { return queuePool.Get().(*queueChunk)[:0] }

// recycleQueue gives q's array back to the pool when it is one of the
// pool's (grown ones are left to the garbage collector). q's items are
// already cleared by the writer.
func recycleQueue(q []outItem) {
	if cap(q) == len(queueChunk{}) {
		queuePool.Put((*queueChunk)(q[:cap(q)]))
	}
}

// writeItems encodes and writes items; it reports whether one asked for the
// connection to be closed after it.
func (c *conn) writeItems(bp *[]byte, items []outItem) (closeAfter bool, err error) {
	buf := (*bp)[:0]
	first := 0
	now := c.s.clock.Now()
	for i := range items {
		buf = c.encodeItem(buf, &items[i], now)
		if items[i].closeAfter {
			closeAfter = true
		}
		if len(buf) >= flushThreshold || i == len(items)-1 {
			if err := c.writeBuf(buf); err != nil {
				*bp = buf[:0]
				return false, err
			}
			c.afterWrite(items[first:i+1], time.Time{})
			first = i + 1
			buf = buf[:0]
		}
		if closeAfter {
			break
		}
	}
	*bp = buf[:0]
	return closeAfter, nil
}

func (c *conn) writeBuf(buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
	n, err := c.nc.Write(buf)
	c.s.stats.bytesOut.Add(uint64(n))
	return err
}

// afterWrite counts and reports the packets just written (publishes in
// the counters and the latency histogram, every packet in a client trace).
// now is when they went out, zero to read the clock: an inline write,
// which never waits, passes the time it encoded them at.
func (c *conn) afterWrite(items []outItem, now time.Time) {
	traced := c.traced()
	mh := c.s.opts.Metrics
	if mh != nil && now.IsZero() {
		now = time.Now()
	}
	for i := range items {
		it := &items[i]
		if traced {
			c.traceOut(it)
		}
		if it.d.m == nil || it.d.m == droppedMarker {
			continue
		}
		c.s.stats.messagesOut.Add(1)
		if c.sess != nil {
			c.sess.msgsOut.Add(1)
		}
		if it.d.notify != nil {
			it.d.notify.written(time.Now())
		}
		q := min(it.d.qos, 2)
		c.s.stats.messagesOutQoS[q].Add(1)
		c.s.stats.payloadOutQoS[q].Add(uint64(len(it.d.m.Payload)))
		if mh != nil {
			mh.ObserveDelivery(now.Sub(it.d.m.ReceivedAt), it.d.qos)
		}
		if c.sess != nil && c.s.events.wants(msg.EventMessageDelivered) {
			c.s.emitDelivery(msg.EventMessageDelivered, c.sess, it.d.m, it.d.qos, "")
		}
	}
}

// droppedMarker replaces an item's message when the writer refused to send
// it (too large for the client), so afterWrite does not count it.
var droppedMarker = &msg.Message{}

// encodeItem appends the packet for it to buf. Encoding errors are logged
// and the item skipped: they mean a bug, not bad input.
func (c *conn) encodeItem(buf []byte, it *outItem, now time.Time) []byte {
	var err error
	start, aliases := len(buf), len(c.outAliases)
	switch {
	case it.d.m != nil:
		buf, err = c.encodePublish(buf, it, now)
	case it.ackType != 0:
		ack := packet.Ack{PacketType: it.ackType, PacketID: it.pid, ReasonCode: it.ackCode}
		buf, err = ack.AppendTo(buf, c.version)
	case it.pkt != nil:
		buf, err = it.pkt.AppendTo(buf, c.version)
	}
	if err != nil {
		c.logger().Error("cannot encode packet", "client_id", c.clientID(), "error", err)
		return buf[:start]
	}
	if c.clientMaxPacket > 0 && len(buf)-start > int(c.clientMaxPacket) {
		if it.d.m != nil {
			if len(c.outAliases) > aliases {
				// The client never sees this packet, so it must not
				// learn the alias assigned for it.
				delete(c.outAliases, it.d.m.Topic)
			}
			c.s.packetTooLarge(c, it)
			it.d.m = droppedMarker
		}
		return buf[:start]
	}
	return buf
}

// encodePublish encodes one delivery, applying the v5 properties and an
// outbound topic alias when the client accepts them.
func (c *conn) encodePublish(buf []byte, it *outItem, now time.Time) ([]byte, error) {
	m := it.d.m
	p := packet.Publish{
		Dup:      it.dup,
		QoS:      it.d.qos,
		Retain:   it.d.retain,
		Topic:    m.Topic,
		PacketID: it.pid,
		Payload:  m.Payload,
	}
	if c.version == packet.V5 {
		c.setPublishProps(&p, it, now)
	}
	return p.AppendTo(buf, c.version)
}

func (c *conn) setPublishProps(p *packet.Publish, it *outItem, now time.Time) {
	m := it.d.m
	pr := &p.Properties
	setMessageProps(pr, m)
	if secs, ok := m.RemainingExpiry(now); ok {
		pr.MessageExpiry, pr.HasMessageExpiry = secs, true
	}
	pr.SubscriptionIDs = it.d.subIDs
	if c.clientAliasMax > 0 {
		c.applyOutboundAlias(p)
	}
}

// applyOutboundAlias replaces the topic with an alias the client already
// knows, or assigns a new alias while there are free ones.
func (c *conn) applyOutboundAlias(p *packet.Publish) {
	if alias, ok := c.outAliases[p.Topic]; ok {
		p.Properties.TopicAlias = alias
		p.Topic = ""
		return
	}
	if len(c.outAliases) < int(c.clientAliasMax) {
		if c.outAliases == nil {
			c.outAliases = make(map[string]uint16)
		}
		alias := uint16(len(c.outAliases) + 1)
		c.outAliases[p.Topic] = alias
		p.Properties.TopicAlias = alias
	}
}

// closeWith closes the connection with a reason: v5 clients that completed
// CONNECT get a DISCONNECT carrying code and the reason string why first.
// Safe from any goroutine. cause names the reason in the disconnect event
// when none was recorded yet.
func (c *conn) closeWith(code packet.ReasonCode, cause, why string) {
	if cause != "" {
		c.setCause(cause)
	}
	if c.v5Attached.Load() {
		d := &packet.Disconnect{ReasonCode: code}
		d.Properties.ReasonString = c.reasonString(why)
		if c.enqueue(outItem{pkt: d, closeAfter: true}) {
			return
		}
	}
	c.closeNow()
}

// reasonString makes why fit a v5 Reason String: valid UTF-8 without
// U+0000, and dropped when it would take the DISCONNECT over the client's
// Maximum Packet Size (MQTT 5 section 3.14.2.2.3).
func (c *conn) reasonString(why string) string {
	why = strings.ToValidUTF8(strings.ReplaceAll(why, "\x00", ""), "?")
	const overhead = 16 // fixed header, reason code, property lengths
	if len(why) > 0xffff || c.clientMaxPacket > 0 && len(why)+overhead > int(c.clientMaxPacket) {
		return ""
	}
	return why
}

// closeNow stops accepting writes and closes the socket at once.
func (c *conn) closeNow() {
	c.outMu.Lock()
	c.closing = true
	c.outMu.Unlock()
	c.abort()
}

// finish stops accepting writes and closes the socket once the writer has
// written what is queued (a DISCONNECT, say); the writer's deadline bounds
// the wait. Exactly one of finish and the writer's exit closes the socket.
func (c *conn) finish() {
	c.outMu.Lock()
	c.closing = true
	writing := c.writing
	c.outMu.Unlock()
	if !writing {
		c.abort()
	}
}

// abort closes the socket; the read loop then ends and cleans up (a parked
// connection gets a read loop again for that).
func (c *conn) abort() {
	woken := c.unpark()
	c.closeSocket()
	if woken {
		go c.resume()
	}
}

// shutdown closes the connection for a server shutdown: v5 clients get
// DISCONNECT 0x8B; no will is published.
func (c *conn) shutdown() {
	c.noWill.Store(true)
	c.setCause("server_shutdown")
	c.closeWith(packet.ServerShuttingDown, "", "server shutting down")
}
