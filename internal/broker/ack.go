package broker

import (
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// handleAck processes PUBACK, PUBREC, PUBREL and PUBCOMP. An ack for an
// unknown packet id is ignored (v5 answers PUBREL/PUBREC flows with 0x92),
// as it may follow a redelivery.
func (c *conn) handleAck(fh packet.FixedHeader, body []byte) error {
	var a packet.Ack
	a.PacketType = fh.Type
	if err := a.Decode(fh, body, c.version); err != nil {
		return err
	}
	ss := c.sess
	switch fh.Type {
	case packet.TypePuback:
		c.completeOutbound(&a, 1)
	case packet.TypePubrec:
		c.handlePubrec(&a)
	case packet.TypePubcomp:
		c.completeOutbound(&a, 2)
	case packet.TypePubrel:
		code := packet.Success
		if !ss.releaseQoS2(a.PacketID) {
			code = packet.PacketIdentifierNotFound
		}
		it := outItem{ackType: packet.TypePubcomp, pid: a.PacketID, ackCode: c.v5Code(code)}
		if !c.ackAfterCommit(it) { // the forgotten packet id is stored first
			c.enqueue(it)
		}
	}
	return nil
}

// v5Code returns code for v5 clients and Success for 3.1.1 (no reason codes).
func (c *conn) v5Code(code packet.ReasonCode) packet.ReasonCode {
	if c.version == packet.V5 {
		return code
	}
	return packet.Success
}

// completeOutbound ends the flow of an outbound message (PUBACK for QoS 1,
// PUBCOMP for QoS 2) and emits the acked event.
func (c *conn) completeOutbound(a *packet.Ack, qos byte) {
	pid := a.PacketID
	ss := c.sess
	ss.mu.Lock()
	ob, ok := ss.inflight[pid]
	if ok && ob.d.qos != qos {
		ok = false
	}
	if ok {
		ss.completeLocked(pid)
	}
	ss.mu.Unlock()
	if ok {
		ob.d.notifyAcked()
	}
	if ok && c.s.events.wants(msg.EventMessageAcked) {
		ev := c.s.deliveryEvent(msg.EventMessageAcked, ss, ob.d.m, ob.d.qos, "")
		ev.Props = propsMap(&a.Properties) // events_client.go
		c.s.events.emitUnlocked(ev)
	}
}

// handlePubrec moves a QoS 2 message to the PUBREL step. A PUBREC with an
// error code ends the flow (v5).
func (c *conn) handlePubrec(a *packet.Ack) {
	ss := c.sess
	ss.mu.Lock()
	ob, ok := ss.inflight[a.PacketID]
	if !ok || ob.d.qos != 2 {
		ss.mu.Unlock()
		c.enqueue(outItem{ackType: packet.TypePubrel, pid: a.PacketID, ackCode: c.v5Code(packet.PacketIdentifierNotFound)})
		return
	}
	if a.ReasonCode.IsError() {
		ss.completeLocked(a.PacketID)
		ss.mu.Unlock()
		return
	}
	ob.released = true
	ss.storeReleasedLocked(ob)
	ss.mu.Unlock()
	c.enqueue(outItem{ackType: packet.TypePubrel, pid: a.PacketID})
}

// markQoS2 records an inbound QoS 2 packet id awaiting PUBREL. dup reports
// that it was already recorded (a retransmission); full that the inbound
// window is exhausted.
func (ss *Session) markQoS2(pid uint16, max int) (dup, full bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, ok := ss.inQoS2[pid]; ok {
		return true, false
	}
	if len(ss.inQoS2) >= max {
		return false, true
	}
	if ss.inQoS2 == nil {
		ss.inQoS2 = make(map[uint16]struct{})
	}
	ss.inQoS2[pid] = struct{}{}
	ss.storeQoS2Locked(pid, false)
	return false, false
}

// releaseQoS2 forgets an inbound QoS 2 packet id on PUBREL.
func (ss *Session) releaseQoS2(pid uint16) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, ok := ss.inQoS2[pid]; !ok {
		return false
	}
	delete(ss.inQoS2, pid)
	ss.storeQoS2Locked(pid, true)
	if len(ss.inQoS2) == 0 {
		ss.inQoS2 = nil
	}
	return true
}

// packetTooLarge is called by the writer when a publish exceeds the client's
// Maximum Packet Size: the message is dropped for this client, counted, and
// its QoS 1/2 flow completed as if sent (MQTT 5 section 3.1.2.11.4).
func (s *Server) packetTooLarge(c *conn, it *outItem) {
	ss := c.sess
	d := it.d
	if d.qos > 0 && ss != nil {
		ss.mu.Lock()
		if ob, ok := ss.inflight[it.pid]; ok && ob.d.m == d.m {
			ss.completeLocked(it.pid)
		}
		ss.mu.Unlock()
	}
	s.drop(ss, d, DropTooLarge)
}
