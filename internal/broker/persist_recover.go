package broker

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/storage"
)

// RecoveryReport says what New loaded from the store.
type RecoveryReport struct {
	// Sessions, Subscriptions, Queued (waiting to be sent), Inflight (sent,
	// not acknowledged), InboundQoS2 (packet ids awaiting PUBREL),
	// Retained and Wills (delayed wills re-armed) were loaded.
	Sessions, Subscriptions, Queued, Inflight, InboundQoS2, Retained, Wills int
	// ExpiredSessions and ExpiredMessages were found expired and deleted,
	// Orphans are records of sessions that no longer exist, deleted.
	ExpiredSessions, ExpiredMessages, Orphans int
	// Corrupt records could not be decoded: they were deleted and their
	// keys (the first ten) listed in CorruptKeys — what was lost.
	Corrupt     int
	CorruptKeys []string
	// Duration is how long recovery took.
	Duration time.Duration
}

// Recovery returns the report of what New loaded from the store (zero
// without a store).
func (s *Server) Recovery() RecoveryReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recovery
}

// recoverer holds the state of one recovery.
type recoverer struct {
	s    *Server
	now  time.Time
	rep  RecoveryReport
	dels storage.Batch
	// wills are the delayed wills to arm once the server serves.
	wills map[*Session]*willRecord
}

// OpenStore loads st's content (sessions, their queues, retained
// messages) and from then on keeps the server's durable state in it, with
// durability d. Call it once, before the first listener serves, on a
// server whose Options.Store was nil (New calls it for Options.Store). The
// caller closes st after Shutdown. An error means st could not be read;
// records that cannot be decoded are deleted and counted in the report.
func (s *Server) OpenStore(st storage.Store, d Durability) (RecoveryReport, error) {
	if s.pstore() != nil {
		return RecoveryReport{}, errors.New("open store: the server has one already")
	}
	if err := s.openStore(st, d); err != nil {
		return RecoveryReport{}, err
	}
	return s.Recovery(), nil
}

// openStore starts the persister and loads the store's content.
func (s *Server) openStore(store storage.Store, d Durability) error {
	start := time.Now()
	r := &recoverer{s: s, now: s.clock.Now(), wills: map[*Session]*willRecord{}}
	cloned := func(fn func(k, v []byte) error) func(k, v []byte) error {
		return func(k, v []byte) error { return fn(k, bytes.Clone(v)) }
	}
	steps := []struct {
		prefix string
		fn     func(k, v []byte) error
	}{
		{prefixSession, cloned(r.session)},
		{prefixQueue, r.queued}, // clones what it keeps
		{prefixInQoS2, r.inQoS2},
		{prefixRetained, cloned(r.retained)},
	}
	for _, st := range steps {
		if err := store.Scan([]byte(st.prefix), st.fn); err != nil {
			return fmt.Errorf("recover %s records: %w", st.prefix, err)
		}
	}
	if r.dels.Len() > 0 {
		if err := store.Apply(&r.dels, true); err != nil {
			return fmt.Errorf("recover: delete expired and corrupt records: %w", err)
		}
	}
	r.rep.Duration = time.Since(start)
	s.mu.Lock()
	s.pendingWills = r.wills
	s.recovery = r.rep
	s.mu.Unlock()
	s.pstp.Store(newPersister(store, d, s.log.With("component", "store"), &s.syncers))
	r.log()
	return nil
}

func (r *recoverer) log() {
	rep := r.rep
	r.s.log.Info("store recovered", "sessions", rep.Sessions, "subscriptions", rep.Subscriptions,
		"queued", rep.Queued, "inflight", rep.Inflight, "inbound_qos2", rep.InboundQoS2,
		"retained", rep.Retained, "wills", rep.Wills, "expired_sessions", rep.ExpiredSessions,
		"expired_messages", rep.ExpiredMessages, "orphans", rep.Orphans, "duration", rep.Duration)
	if rep.Corrupt > 0 {
		r.s.log.Warn("store repaired: undecodable records were deleted; their content is lost",
			"records", rep.Corrupt, "keys", rep.CorruptKeys)
	}
}

// corrupt deletes an undecodable record and notes what was lost.
func (r *recoverer) corrupt(k []byte, err error) {
	r.rep.Corrupt++
	if len(r.rep.CorruptKeys) < 10 {
		r.rep.CorruptKeys = append(r.rep.CorruptKeys, fmt.Sprintf("%q (%v)", k, err))
	}
	r.dels.Delete(bytes.Clone(k))
}

func (r *recoverer) session(k, v []byte) error {
	s := r.s
	id := string(k[len(prefixSession):])
	rec, err := decodeSessionRecord(v)
	if err != nil || id == "" {
		r.corrupt(k, err)
		return nil
	}
	// A session that was connected when the hub stopped counts its
	// expiry from the restart.
	off := rec.DisconnectedAt
	if off.Before(rec.ConnectedAt) {
		off = r.now
	}
	left := ageOut(off, time.Duration(rec.Expiry)*time.Second, r.now)
	if rec.Expiry != neverExpire && left == 0 {
		r.rep.ExpiredSessions++
		r.dels.Delete(bytes.Clone(k))
		return nil
	}
	ss := newSession(s, id)
	ss.uname.Store(&rec.Username)
	ss.owner = rec.Owner
	ss.version, ss.expiry, ss.stored = packet.Version(rec.Proto), rec.Expiry, true
	ss.connectedAt, ss.disconnectedAt = nanoOf(rec.ConnectedAt), nanoOf(off)
	for _, sr := range rec.Subs {
		sub := &subscription{sess: ss, filter: sr.Filter, subID: sr.SubID, opts: packet.Subscription{
			Filter: sr.Filter, QoS: sr.QoS, NoLocal: sr.NoLocal,
			RetainAsPublished: sr.RetainAsPublished, RetainHandling: sr.RetainHandling}}
		if sr.SubID != 0 {
			sub.ids = []uint32{sr.SubID}
		}
		if _, err := s.trieSubscribe(sr.Filter, id, sub); err != nil {
			continue // validated by decodeSessionRecord
		}
		if ss.subs == nil {
			ss.subs = make(map[string]*subscription)
		}
		ss.subs[sr.Filter] = sub
		r.rep.Subscriptions++
	}
	if rec.Will != nil {
		r.wills[ss] = rec.Will
		ss.rareLocked().will = rec.Will
		r.rep.Wills++
	}
	s.mu.Lock() // $SYS publishing may already run (OpenStore)
	s.sessions[id] = ss
	s.mu.Unlock()
	s.stats.sessions.Add(1)
	r.rep.Sessions++
	if rec.Expiry != neverExpire {
		ss.rareLocked().expiryTimer = s.clock.AfterFunc(left, func() { s.expireSession(ss) })
	}
	return nil
}

func (r *recoverer) queued(k, v []byte) error {
	s := r.s
	id, suffix, ok := splitKey(k, prefixQueue, 8)
	if !ok {
		r.corrupt(k, errRecord)
		return nil
	}
	seq := binary.BigEndian.Uint64(suffix)
	ss := s.sessions[id]
	if ss == nil {
		r.rep.Orphans++
		r.dels.Delete(bytes.Clone(k))
		return nil
	}
	pid, exp, size, err := peekQueued(v)
	if err != nil {
		r.corrupt(k, err)
		return nil
	}
	if exp != 0 && r.now.UnixNano() >= exp {
		r.rep.ExpiredMessages++
		r.dels.Delete(bytes.Clone(k))
		return nil
	}
	if pid == 0 && s.opts.MaxBacklogBytes > 0 {
		// Left on disk: the session is offline, its backlog is paged in
		// when its client comes back (queue_disk.go).
		ss.addDiskLocked(seq, size, exp)
		ss.pseq = max(ss.pseq, seq)
		r.rep.Queued++
		return nil
	}
	rec, err := decodeQueued(bytes.Clone(v))
	if err != nil {
		r.corrupt(k, err)
		return nil
	}
	rec.d.m.ID = s.nextMsgID()
	rec.d.m.QoS = rec.d.qos
	rec.d.pseq = seq
	ss.pseq = max(ss.pseq, seq)
	if _, used := ss.inflight[rec.pid]; rec.pid != 0 && !used {
		if ss.inflight == nil {
			ss.inflight = make(map[uint16]*outbound)
		}
		ss.inflight[rec.pid] = &outbound{d: rec.d, pid: rec.pid, seq: seq, released: rec.released && rec.d.qos == 2}
		ss.seq = max(ss.seq, seq)
		ss.nextPID = max(ss.nextPID, rec.pid+1, 1)
		s.stats.inflight.Add(1)
		r.rep.Inflight++
		return nil
	}
	ss.pushLocked(rec.d)
	r.rep.Queued++
	return nil
}

func (r *recoverer) inQoS2(k, _ []byte) error {
	id, suffix, ok := splitKey(k, prefixInQoS2, 2)
	if !ok {
		r.corrupt(k, errRecord)
		return nil
	}
	ss := r.s.sessions[id]
	if ss == nil {
		r.rep.Orphans++
		r.dels.Delete(bytes.Clone(k))
		return nil
	}
	if ss.inQoS2 == nil {
		ss.inQoS2 = make(map[uint16]struct{})
	}
	ss.inQoS2[binary.BigEndian.Uint16(suffix)] = struct{}{}
	r.rep.InboundQoS2++
	return nil
}

func (r *recoverer) retained(k, v []byte) error {
	m, err := decodeRetained(v)
	if err == nil && m.Topic != string(k[len(prefixRetained):]) {
		err = fmt.Errorf("topic %q under another key: %w", m.Topic, errRecord)
	}
	if err != nil {
		r.corrupt(k, err)
		return nil
	}
	if m.Expired(r.now) {
		r.rep.ExpiredMessages++
		r.dels.Delete(bytes.Clone(k))
		return nil
	}
	m.ID = r.s.nextMsgID()
	r.s.retained.Set(m.Topic, m)
	r.rep.Retained++
	return nil
}

// decodeSessionRecord decodes and checks a session record.
func decodeSessionRecord(v []byte) (*sessionRecord, error) {
	var rec sessionRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("session record: %w", err)
	}
	if rec.Expiry == 0 {
		return nil, errors.New("session record: expiry 0")
	}
	for _, sr := range rec.Subs {
		if err := topic.ValidateFilter(sr.Filter); err != nil || sr.QoS > 2 || sr.RetainHandling > 2 {
			return nil, fmt.Errorf("session record: subscription %q: %w", sr.Filter, errRecord)
		}
	}
	if rec.Will != nil {
		m, err := decodeMessage(rec.Will.Message)
		if err != nil {
			return nil, fmt.Errorf("session record: will: %w", err)
		}
		rec.Will.m = m
	}
	return &rec, nil
}

// armRecoveredWills starts the delay timers of the wills recovered from
// the store; called when the server starts serving, so that event
// listeners (rules) registered after New see the wills that are already due.
func (s *Server) armRecoveredWills() {
	s.mu.Lock()
	wills := s.pendingWills
	s.pendingWills = nil
	s.mu.Unlock()
	for ss, w := range wills {
		ss.mu.Lock()
		r := ss.rare
		if ss.removed || ss.conn != nil || r == nil || r.will != w {
			ss.mu.Unlock()
			continue
		}
		r.delayedWill = func() { s.publishStoredWill(w) }
		r.willTimer = s.clock.AfterFunc(ageOut(w.FireAt, 0, s.clock.Now()), func() {
			ss.mu.Lock()
			fire := ss.conn == nil && r.willTimer != nil && ss.rare == r && !ss.removed
			r.willTimer, r.delayedWill = nil, nil
			if fire {
				ss.saveLocked()
			}
			ss.mu.Unlock()
			if fire {
				s.publishStoredWill(w)
			}
		})
		ss.mu.Unlock()
	}
}
