package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// sessionExport is a session on its way to another node (a takeover across
// nodes): the session record and the queue records of the store's format
// (persist_record.go), the inflight window first in send order, then the
// queue.
type sessionExport struct {
	Session  sessionRecord `json:"session"`
	Messages [][]byte      `json:"messages,omitempty"`
	// Handles are the messages' handles in the replicated queues (0:
	// not replicated), parallel to Messages.
	Handles []uint64 `json:"handles,omitempty"`
	InQoS2  []uint16 `json:"in_qos2,omitempty"`

	pseqs []uint64 // the messages' numbers on the exporting node
}

// TakeSession gives up the session of clientID because another node claimed
// it: its connection gets DISCONNECT 0x8E (v5) and is closed, and the
// session leaves this node (store records included) and is returned
// encoded for the new node; nil when there is none. Its messages move:
// they are not counted as dropped, and their replicated copies stay (the
// new node follows them from the handles in the export).
func (s *Server) TakeSession(clientID string) []byte {
	s.mu.Lock()
	ss := s.sessions[clientID]
	if ss == nil {
		s.mu.Unlock()
		return nil
	}
	ss.mu.Lock()
	old := ss.conn
	ss.conn = nil
	ss.handedOver = true
	ss.stopExpiryLocked()
	ss.stopWillLocked()
	exp := ss.exportLocked()
	ss.forgetAllLocked()
	ss.resetQueuesLocked()
	s.removeSessionLocked(ss)
	ss.wakeLocked()
	ss.mu.Unlock()
	s.mu.Unlock()
	s.stats.clusterTakenAway.Add(1)
	if cl := s.cluster(); cl != nil {
		exp.Handles = cl.HandOver(clientID, exp.pseqs)
	}
	if old != nil {
		old.takeResume.Store(true)
		old.setCause("takenover")
		old.closeWith(packet.SessionTakenOver, "", "session taken over by another node")
	}
	b, err := json.Marshal(exp)
	if err != nil {
		s.log.Error("cannot encode session for another node", "client_id", clientID, "error", err)
		return nil
	}
	return b
}

// HasSession reports whether clientID has a session on this node, and
// whether it is connected.
func (s *Server) HasSession(clientID string) (exists, connected bool) {
	s.mu.Lock()
	ss := s.sessions[clientID]
	s.mu.Unlock()
	if ss == nil {
		return false, false
	}
	return true, ss.isConnected()
}

// SessionIDs returns the client ids of the sessions held on this node
// (the cluster checks recovered ones against its registry).
func (s *Server) SessionIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.sessions))
	for id := range s.sessions {
		ids = append(ids, id)
	}
	return ids
}

func (ss *Session) exportLocked() sessionExport {
	exp := sessionExport{Session: sessionRecord{
		Proto: byte(ss.version), Expiry: ss.expiry, Username: ss.usernameUnlocked(), Owner: ss.owner,
		ConnectedAt: ss.connectedAt.time(), DisconnectedAt: ss.disconnectedAt.time(),
	}}
	for _, sub := range ss.subs {
		o := sub.opts
		exp.Session.Subs = append(exp.Session.Subs, subRecord{Filter: sub.filter, QoS: o.QoS, NoLocal: o.NoLocal,
			RetainAsPublished: o.RetainAsPublished, RetainHandling: o.RetainHandling, SubID: sub.subID})
	}
	obs := make([]*outbound, 0, len(ss.inflight))
	for _, ob := range ss.inflight {
		obs = append(obs, ob)
	}
	sortBySeq(obs)
	add := func(d *delivery, pid uint16, released bool) {
		if b, err := encodeQueued(d, pid, released); err == nil {
			exp.Messages = append(exp.Messages, b)
			exp.pseqs = append(exp.pseqs, d.pseq)
		}
	}
	for _, ob := range obs {
		add(&ob.d, ob.pid, ob.released)
	}
	for i := ss.queue.head; i < len(ss.queue.items); i++ {
		add(&ss.queue.items[i], 0, false)
	}
	ss.exportDiskLocked(&exp) // queue_disk.go
	for pid := range ss.inQoS2 {
		exp.InQoS2 = append(exp.InQoS2, pid)
	}
	sort.Slice(exp.InQoS2, func(i, j int) bool { return exp.InQoS2[i] < exp.InQoS2[j] })
	return exp
}

// importLocked gives the new session ss (not yet attached) the state
// another node exported: subscriptions, the inflight window (resent with
// DUP on this connection) and the queue, all written to this node's store.
func (s *Server) importLocked(ss *Session, b []byte) error {
	var exp sessionExport
	if err := json.Unmarshal(b, &exp); err != nil {
		return fmt.Errorf("imported session: %w", err)
	}
	ss.owner = exp.Session.Owner
	for _, sr := range exp.Session.Subs {
		sub := &subscription{sess: ss, filter: sr.Filter, subID: sr.SubID, opts: packet.Subscription{
			Filter: sr.Filter, QoS: sr.QoS, NoLocal: sr.NoLocal,
			RetainAsPublished: sr.RetainAsPublished, RetainHandling: sr.RetainHandling}}
		if sr.SubID != 0 {
			sub.ids = []uint32{sr.SubID}
		}
		if _, err := s.trieSubscribe(sr.Filter, ss.id, sub); err != nil {
			continue
		}
		if ss.subs == nil {
			ss.subs = make(map[string]*subscription)
		}
		ss.subs[sr.Filter] = sub
	}
	now := s.clock.Now()
	for i, rb := range exp.Messages {
		rec, err := decodeQueued(rb)
		if err != nil || rec.d.m.Expired(now) {
			continue
		}
		if i < len(exp.Handles) {
			rec.d.handle = exp.Handles[i]
		}
		rec.d.m.ID = s.nextMsgID()
		rec.d.m.QoS = rec.d.qos
		if _, used := ss.inflight[rec.pid]; rec.pid != 0 && !used {
			if ss.inflight == nil {
				ss.inflight = make(map[uint16]*outbound)
			}
			ss.seq++
			ob := &outbound{d: rec.d, pid: rec.pid, seq: ss.seq, released: rec.released && rec.d.qos == 2}
			ss.inflight[rec.pid] = ob
			ss.nextPID = max(ss.nextPID, rec.pid+1, 1)
			s.stats.inflight.Add(1)
			continue
		}
		ss.pushLocked(rec.d)
	}
	for _, pid := range exp.InQoS2 {
		if ss.inQoS2 == nil {
			ss.inQoS2 = make(map[uint16]struct{})
		}
		ss.inQoS2[pid] = struct{}{}
	}
	return nil
}

// importSessionLocked imports the session the cluster took from another
// node for this CONNECT (Clean Start 0 only); it reports whether there was
// one (Session Present).
func (s *Server) importSessionLocked(ss *Session, cp *connectParams) bool {
	if cp.imported == nil || cp.cleanStart {
		return false
	}
	if err := s.importLocked(ss, cp.imported); err != nil {
		s.log.Error("session from another node not imported", "client_id", ss.id, "error", err)
		return false
	}
	s.stats.clusterTakenIn.Add(1)
	return true
}

// storeImportedLocked writes an imported session's messages to this node's
// store, and follows their replicated copies, once its expiry is known
// (after the CONNECT set it).
func (ss *Session) storeImportedLocked() {
	if ss.expiry == 0 || ss.removed || ss.s.pstore() == nil && ss.s.cluster() == nil {
		return
	}
	ss.saveLocked()
	for _, ob := range ss.inflight {
		ss.storeNewLocked(&ob.d, ob.pid)
	}
	for i := ss.queue.head; i < len(ss.queue.items); i++ {
		ss.storeNewLocked(&ss.queue.items[i], 0)
	}
	for pid := range ss.inQoS2 {
		ss.storeQoS2Locked(pid, false)
	}
}

// clusterRecord is what the cluster's registry keeps of a session so that
// another node can adopt it when this one is lost: the session record
// (subscriptions, expiry) and the will of its current connection.
type clusterRecord struct {
	// Owner is the identity that owns the session (auth.Identity.Owner);
	// the cluster refuses a claim naming another owner unless Takeover is
	// set (Options.AllowSessionTakeover).
	Owner     string        `json:"owner,omitempty"`
	Takeover  bool          `json:"takeover,omitempty"`
	Session   sessionRecord `json:"session"`
	Will      []byte        `json:"will,omitempty"` // a message block (persist_record.go)
	WillDelay uint32        `json:"will_delay,omitempty"`
	WillExp   *uint32       `json:"will_expiry,omitempty"`
}

// clusterRecordLocked encodes ss and the will of c (nil: no connection).
func (ss *Session) clusterRecordLocked(c *conn) []byte {
	rec := clusterRecord{Owner: ss.owner, Session: sessionRecord{Proto: byte(ss.version), Expiry: ss.expiry,
		Username: ss.usernameUnlocked(), Owner: ss.owner}}
	for _, sub := range ss.subs {
		o := sub.opts
		rec.Session.Subs = append(rec.Session.Subs, subRecord{Filter: sub.filter, QoS: o.QoS, NoLocal: o.NoLocal,
			RetainAsPublished: o.RetainAsPublished, RetainHandling: o.RetainHandling, SubID: sub.subID})
	}
	if ci := connInfo(c); ci != nil && ci.will != nil {
		if b, err := appendMessage(nil, ci.will); err == nil {
			rec.Will, rec.WillDelay = b, ci.willDelay
			if ci.willHasExpiry {
				e := ci.willExpiry
				rec.WillExp = &e
			}
		}
	}
	b, _ := json.Marshal(rec)
	return b
}

// saveClusterLocked replicates ss's record (subscriptions changed, a
// connection came or went). It does not block.
func (ss *Session) saveClusterLocked() {
	if cl := ss.s.cluster(); cl != nil && !ss.removed {
		cl.Save(ss.id, ss.clusterRecordLocked(ss.conn))
	}
}

// AdoptSession takes over the session of a lost node from its replicated
// record: a persistent session lives on here offline with its
// subscriptions (its client resumes it here, or on any node, by taking it
// over); the will of the lost connection is published, after its delay.
// The cluster calls it on exactly one node per session (the one whose
// registry update won).
func (s *Server) AdoptSession(clientID string, record []byte, queue [][]byte, handles []uint64) {
	var rec clusterRecord
	if err := json.Unmarshal(record, &rec); err != nil {
		s.log.Error("session of a lost node not adopted", "client_id", clientID, "error", err)
		return
	}
	var will *msg.Message
	if len(rec.Will) > 0 {
		if m, err := decodeMessage(rec.Will); err == nil {
			will = m
		}
	}
	if rec.Session.Expiry == 0 {
		s.releaseSession(clientID)
		if cl := s.cluster(); cl != nil && len(queue) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
			if err := cl.DropQueue(ctx, clientID); err != nil {
				s.log.Warn("replicated queue of an ended session not deleted", "client_id", clientID, "error", err)
			}
			cancel()
		}
		if will != nil {
			s.publishAdoptedWill(will, rec.WillExp)
		}
		return
	}
	s.mu.Lock()
	if s.sessions[clientID] != nil {
		s.mu.Unlock()
		return
	}
	ss := newSession(s, clientID)
	ss.mu.Lock()
	s.sessions[clientID] = ss
	s.stats.sessions.Add(1)
	exp := sessionExport{Session: rec.Session, Messages: queue, Handles: handles}
	b, _ := json.Marshal(exp)
	_ = s.importLocked(ss, b)
	ss.uname.Store(&rec.Session.Username)
	ss.version, ss.expiry, ss.disconnectedAt = packet.Version(rec.Session.Proto), rec.Session.Expiry, nanoOf(s.clock.Now())
	ss.storeImportedLocked()
	ss.spillQueueLocked() // queue_disk.go: offline, its backlog is on disk
	s.scheduleExpiryLocked(ss)
	if will != nil {
		delay := min(rec.WillDelay, ss.expiry)
		r := ss.rareLocked()
		r.delayedWill = func() { s.publishAdoptedWill(will, rec.WillExp) }
		r.willTimer = s.clock.AfterFunc(time.Duration(delay)*time.Second, func() {
			ss.mu.Lock()
			fire := ss.conn == nil && r.willTimer != nil && ss.rare == r && !ss.removed
			r.willTimer, r.delayedWill = nil, nil
			ss.mu.Unlock()
			if fire {
				s.publishAdoptedWill(will, rec.WillExp)
			}
		})
	}
	ss.mu.Unlock()
	s.mu.Unlock()
	s.stats.clusterAdopted.Add(1)
}

// publishAdoptedWill publishes the will of a connection lost with its node.
func (s *Server) publishAdoptedWill(will *msg.Message, expiry *uint32) {
	m := *will
	m.ID = s.nextMsgID()
	m.ReceivedAt = s.clock.Now()
	m.Origin = msg.Origin{Kind: msg.OriginWill}
	if expiry != nil {
		m.ExpiresAt = m.ReceivedAt.Add(time.Duration(*expiry) * time.Second)
	}
	s.publish(&m)
}

// lostWill is the will of a connection lost with its node, due once the
// client's new connection is open.
type lostWill struct {
	m      *msg.Message
	expiry *uint32
}

// resumeLost completes a claim whose previous owner was lost (or held no
// such session): state is the record that owner replicated. Unless the
// CONNECT discards the session, its queue is read from the replicated
// queues and returned with it in the export format. The lost connection's
// will is due unless the client resumes the session within its delay
// (MQTT 5 §3.1.3.2.2).
func (s *Server) resumeLost(ctx context.Context, cl Cluster, cp *connectParams, state []byte) ([]byte, error) {
	var rec clusterRecord
	if len(state) > 0 {
		if err := json.Unmarshal(state, &rec); err != nil {
			s.log.Error("replicated session record unreadable; the session starts empty", "client_id", cp.clientID, "error", err)
			state = nil
		}
	}
	if len(rec.Will) > 0 && (cp.cleanStart || rec.WillDelay == 0) {
		if m, err := decodeMessage(rec.Will); err == nil {
			cp.lostWill = &lostWill{m: m, expiry: rec.WillExp}
		}
	}
	if cp.cleanStart {
		return state, nil
	}
	recs, handles, err := cl.LoadQueue(ctx, cp.clientID)
	if err != nil {
		return nil, fmt.Errorf("queue of a session lost with its node: %w", err)
	}
	if state == nil && len(recs) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(sessionExport{Session: rec.Session, Messages: recs, Handles: handles})
	if err != nil {
		return nil, fmt.Errorf("session lost with its node: %w", err)
	}
	return b, nil
}

// SessionFilters returns the filters of clientID's session on this node
// (nil: none): the cluster keeps their interest while it passes late
// messages on to the node that took the session over.
func (s *Server) SessionFilters(clientID string) []string {
	s.mu.Lock()
	ss := s.sessions[clientID]
	s.mu.Unlock()
	if ss == nil {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	filters := make([]string, 0, len(ss.subs))
	for _, sub := range ss.subs {
		filters = append(filters, sub.filter)
	}
	return filters
}

// DeliverTo gives m, passed on by the node that gave clientID's session
// up to this one during a takeover, to that session alone, through its
// subscriptions that match m; after is called once it is stored. It
// reports whether a subscription matched.
func (s *Server) DeliverTo(clientID string, m *msg.Message, after func(error)) bool {
	m.ID = s.nextMsgID()
	ms := matchesPool.Get().(*topic.Matches[*subscription])
	s.subs.Match(m.Topic, ms)
	var mine []topic.Entry[*subscription]
	for _, e := range ms.Subs {
		if e.Key == clientID {
			mine = append(mine, e)
		}
	}
	ms.Reset()
	matchesPool.Put(ms)
	ok := false
	if len(mine) > 0 {
		if d, matched := mergeDelivery(m, mine, s.readHooks()); matched && d.m != nil {
			ok = mine[0].Value.sess.deliver(d, true, nil) == accepted
		}
	}
	s.afterStored(after)
	return ok
}
