package broker

import (
	"encoding/json"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// The hooks below keep the store in step with the in-memory state. Writes
// happen only for persistent sessions (session expiry > 0): a clean session
// never touches the disk. Deletes happen only for sessions whose record was
// written (Session.stored).

// sessionRecord is the JSON value of s/<client id>.
type sessionRecord struct {
	Proto          byte        `json:"proto"`
	Expiry         uint32      `json:"expiry"`
	Username       string      `json:"username,omitempty"`
	Owner          string      `json:"owner,omitempty"` // auth.Identity.Owner of the session
	ConnectedAt    time.Time   `json:"connected_at"`
	DisconnectedAt time.Time   `json:"disconnected_at"`
	Subs           []subRecord `json:"subs,omitempty"`
	Will           *willRecord `json:"will,omitempty"`
}

// subRecord is one subscription of a session record.
type subRecord struct {
	Filter            string `json:"filter"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local,omitempty"`
	RetainAsPublished bool   `json:"rap,omitempty"`
	RetainHandling    byte   `json:"rh,omitempty"`
	SubID             uint32 `json:"sub_id,omitempty"`
}

// willRecord is a will waiting for its delay while the session is offline.
type willRecord struct {
	FireAt    time.Time `json:"fire_at"`
	Expiry    uint32    `json:"expiry,omitempty"`
	HasExpiry bool      `json:"has_expiry,omitempty"`
	Message   []byte    `json:"message"` // a message block (persist_record.go)

	m *msg.Message
}

// persistentLocked reports whether ss's state is written to the store.
func (ss *Session) persistentLocked() bool {
	return ss.s.pstore() != nil && ss.expiry > 0 && !ss.removed
}

// saveLocked writes the session record (not waiting for the commit).
func (ss *Session) saveLocked() {
	if !ss.persistentLocked() {
		return
	}
	rec := sessionRecord{
		Proto: byte(ss.version), Expiry: ss.expiry, Username: ss.usernameUnlocked(), Owner: ss.owner,
		ConnectedAt: ss.connectedAt.time(), DisconnectedAt: ss.disconnectedAt.time(),
	}
	for _, sub := range ss.subs {
		o := sub.opts
		rec.Subs = append(rec.Subs, subRecord{Filter: sub.filter, QoS: o.QoS, NoLocal: o.NoLocal,
			RetainAsPublished: o.RetainAsPublished, RetainHandling: o.RetainHandling, SubID: sub.subID})
	}
	if r := ss.rare; r != nil && r.willTimer != nil && r.will != nil {
		rec.Will = r.will
	}
	b, err := json.Marshal(rec)
	if err != nil {
		ss.s.log.Error("cannot encode session record", "client_id", ss.id, "error", err)
		return
	}
	ss.s.pstore().put(sessionKey(ss.id), b)
	ss.stored = true
}

// storeNewLocked gives a QoS 1/2 delivery to a persistent session its
// storage sequence number and writes its queue record, to the store and,
// on a cluster, to the replicated queues (an imported delivery that is
// replicated already is only followed).
func (ss *Session) storeNewLocked(d *delivery, pid uint16) {
	// A session with a backlog on disk stores every newer message behind
	// it, also once a client resumed it with expiry 0 (queue_disk.go).
	if d.qos == 0 || d.pseq != 0 || ss.expiry == 0 && ss.tailLocked() == nil || ss.removed {
		return
	}
	st, cl := ss.s.pstore(), ss.s.cluster()
	if st == nil && cl == nil {
		return
	}
	if st != nil && !ss.stored {
		ss.saveLocked()
	}
	ss.pseq++
	d.pseq = ss.pseq
	if cl != nil && d.handle != 0 {
		cl.Requeue(ss.id, d.pseq, d.handle)
		d.handle = 0
		cl = nil
	}
	if st == nil && cl == nil {
		return
	}
	b, err := encodeQueued(d, pid, false)
	if err != nil {
		ss.s.log.Error("cannot encode queued message", "client_id", ss.id, "topic", d.m.Topic, "error", err)
		return
	}
	if st != nil {
		st.put(queueKey(ss.id, d.pseq), b)
	}
	if cl != nil {
		cl.Enqueue(ss.id, d.pseq, b)
	}
}

func (ss *Session) putQueuedLocked(d *delivery, pid uint16, released bool) {
	b, err := encodeQueued(d, pid, released)
	if err != nil {
		ss.s.log.Error("cannot encode queued message", "client_id", ss.id, "topic", d.m.Topic, "error", err)
		return
	}
	ss.s.pstore().put(queueKey(ss.id, d.pseq), b)
}

// storeSentLocked records that ob got its packet id: a new record, or for
// QoS 2 the stored record rewritten with the id, so that a restart resends
// it with the same id (the receiver may hold it awaiting PUBREL). The
// rewrite is not waited for (docs/persistence.md).
func (ss *Session) storeSentLocked(ob *outbound) {
	if ob.d.qos == 0 {
		return
	}
	if ob.d.pseq == 0 {
		ss.storeNewLocked(&ob.d, ob.pid)
		return
	}
	if ob.d.qos == 2 && ss.stored && ss.s.pstore() != nil {
		ss.putQueuedLocked(&ob.d, ob.pid, ob.released)
	}
}

// storeReleasedLocked records that PUBREC arrived for ob: after a restart
// PUBREL is due, not the message.
func (ss *Session) storeReleasedLocked(ob *outbound) {
	if ss.s.pstore() != nil && ob.d.pseq != 0 && ss.stored {
		ss.putQueuedLocked(&ob.d, ob.pid, true)
	}
}

// forgetLocked deletes the record of a delivery that left the session
// (acknowledged, dropped or expired). The delete is not waited for: losing
// it in a crash means one permitted QoS 1 duplicate.
func (ss *Session) forgetLocked(d *delivery) {
	if d.pseq == 0 {
		return
	}
	if ss.s.pstore() != nil && ss.stored {
		ss.s.pstore().del(queueKey(ss.id, d.pseq))
	}
	ss.forgetClusterLocked(d.pseq)
}

// forgetClusterLocked ends the replicated copy of the delivery numbered
// pseq (on a cluster).
func (ss *Session) forgetClusterLocked(pseq uint64) {
	if cl := ss.s.cluster(); cl != nil && !ss.handedOver {
		cl.Dequeue(ss.id, pseq)
	}
}

// forgetAllLocked deletes every record of a session being discarded (on a
// cluster: its replicated deliveries too, unless it moved to another node).
func (ss *Session) forgetAllLocked() {
	if cl := ss.s.cluster(); cl != nil && !ss.handedOver && ss.pseq > 0 {
		cl.EndQueue(ss.id)
	}
	ss.forgetDiskLocked() // queue_disk.go
	if ss.s.pstore() == nil || !ss.stored {
		return
	}
	for _, ob := range ss.inflight {
		ss.forgetLocked(&ob.d)
	}
	for i := ss.queue.head; i < len(ss.queue.items); i++ {
		ss.forgetLocked(&ss.queue.items[i])
	}
	for pid := range ss.inQoS2 {
		ss.s.pstore().del(inQoS2Key(ss.id, pid))
	}
	ss.s.pstore().del(sessionKey(ss.id))
	ss.stored = false
}

// storeQoS2Locked records (or with del, forgets) an inbound QoS 2 packet id
// awaiting PUBREL.
func (ss *Session) storeQoS2Locked(pid uint16, del bool) {
	switch {
	case del && ss.s.pstore() != nil && ss.stored:
		ss.s.pstore().del(inQoS2Key(ss.id, pid))
	case !del && ss.persistentLocked():
		if !ss.stored {
			ss.saveLocked()
		}
		ss.s.pstore().put(inQoS2Key(ss.id, pid), []byte{})
	}
}

// rememberWillLocked keeps the will whose delay timer was just armed, for
// the session record.
func (ss *Session) rememberWillLocked(c *conn, will *msg.Message, delay uint32) {
	if !ss.persistentLocked() {
		return
	}
	b, err := appendMessage(nil, will)
	if err != nil {
		ss.s.log.Error("cannot encode will", "client_id", ss.id, "error", err)
		return
	}
	ss.rareLocked().will = &willRecord{FireAt: ss.s.clock.Now().Add(time.Duration(delay) * time.Second),
		Expiry: c.connect.willExpiry, HasExpiry: c.connect.willHasExpiry, Message: b, m: will}
}

// waitStored waits until ss's writes so far are committed (SUBSCRIBE: the
// subscription is durable before SUBACK).
func (s *Server) waitStored(ss *Session) {
	if s.pstore() == nil {
		return
	}
	ss.mu.Lock()
	stored := ss.stored
	ss.mu.Unlock()
	if stored {
		if err := s.pstore().wait(); err != nil {
			s.log.Error("session not stored", "client_id", ss.id, "error", err)
		}
	}
}

// storeRetainedRecord writes (or, for an empty payload, deletes) the
// retained message of m's topic.
func (s *Server) storeRetainedRecord(m *msg.Message, del bool) {
	if s.pstore() == nil {
		return
	}
	if del {
		s.pstore().del(retainedKey(m.Topic))
		return
	}
	b, err := encodeRetained(m)
	if err != nil {
		s.log.Error("cannot encode retained message", "topic", m.Topic, "error", err)
		return
	}
	s.pstore().put(retainedKey(m.Topic), b)
}

// ackAfterCommit queues an acknowledgement once the writes it vouches for
// are committed. While one of a connection's acknowledgements waits for a
// commit, every later one waits behind it, which keeps them in PUBLISH
// order. A failed commit closes the connection instead: the client
// resends.
func (c *conn) ackAfterCommit(it outItem) bool {
	p := c.s.acks()
	if p == nil {
		if c.commitAcks.Load() == 0 {
			return false
		}
		p = c.s.syncp.Load() // the earlier ones wait for the Syncers' committer
	}
	c.commitAcks.Add(1)
	p.after(func(err error) {
		defer c.commitAcks.Add(-1) // once it is queued: a later ack goes behind it
		if err != nil {
			c.closeWith(packet.UnspecifiedError, "store_error", "message not stored")
			return
		}
		c.enqueue(it)
	})
	return true
}

// ackPublishAfterCommit is ackAfterCommit for the acknowledgement of the
// PUBLISH being handled: when handling it appended nothing to the store or
// a Syncer (c.ackMark, taken when it was read, still holds) and no earlier
// acknowledgement waits for a commit, there is nothing to wait for and it
// goes out at once, without a round trip through the committer goroutine
// (clean sessions, and persistent ones that are online with room in their
// window, write nothing).
func (c *conn) ackPublishAfterCommit(it outItem) bool {
	if c.commitAcks.Load() == 0 && c.s.syncers.appends.Load() == c.ackMark {
		return false
	}
	return c.ackAfterCommit(it)
}

// publishStoredWill publishes a will recovered from the store.
func (s *Server) publishStoredWill(w *willRecord) {
	m := *w.m
	m.ID = s.nextMsgID()
	m.ReceivedAt = s.clock.Now()
	if w.HasExpiry {
		m.ExpiresAt = m.ReceivedAt.Add(time.Duration(w.Expiry) * time.Second)
	}
	s.publish(&m)
}
