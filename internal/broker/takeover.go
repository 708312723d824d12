package broker

import (
	"time"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// openSession attaches c to the session of its client id: a new one, or the
// existing one resumed (Clean Start 0) or discarded (Clean Start 1). A
// connection still attached to it is taken over: it gets DISCONNECT 0x8E
// (v5) and is closed. CONNACK, then the redelivery of the inflight window,
// then queued messages are queued on c, in that order.
//
// A session belongs to the identity that created it: unless
// AllowSessionTakeover is set, a client of another identity may neither
// resume, discard nor take it over, and openSession returns the owner and
// false, changing nothing. A resumed session's subscriptions and messages
// are authorized again for c's identity (readacl.go).
//
// Lock order: s.mu → ss.mu → c.outMu (see doc.go).
func (s *Server) openSession(c *conn, cp *connectParams) (string, bool) {
	owner := c.auth.id.Owner()
	s.mu.Lock()
	ss, present := s.sessions[cp.clientID], false
	var oldConn *conn
	if ss != nil {
		ss.mu.Lock()
		if s.ownedByOtherLocked(ss, owner) {
			was := ss.owner
			ss.mu.Unlock()
			s.mu.Unlock()
			return was, false
		}
		oldConn = ss.conn
		ss.conn = nil
		ss.wakeLocked() // publishers waiting for room: backpressure.go
		ss.stopExpiryLocked()
		ss.stopWillLocked() // a reconnect cancels a delayed will
		ss.tidyRareLocked()
		if cp.cleanStart {
			s.removeSessionLocked(ss)
			ss.mu.Unlock()
			ss = nil
		} else {
			present = true
		}
	}
	imported := false
	if ss == nil {
		ss = newSession(s, cp.clientID)
		ss.mu.Lock()
		s.sessions[cp.clientID] = ss
		s.stats.sessions.Add(1)
		imported = s.importSessionLocked(ss, cp) // cluster_session.go
		present = imported
	}
	ss.uname.Store(c.username) // shared with the conn (usernamePtr)
	ss.ident.Store(c.auth.id)
	ss.clearReadCacheLocked() // decisions of the previous identity
	if owner != "" {
		ss.owner = owner // claimed by the first identified client
	}
	ss.version, ss.expiry, ss.window = c.version, cp.expiry, cp.window
	now := nanoOf(s.clock.Now())
	ss.conn, ss.connectedAt = c, now
	delete(s.unattached, c) // found through ss from now on (connsLocked)
	c.connectedAt = int64(now)
	ss.saveLocked()
	if imported {
		ss.storeImportedLocked()
	}
	if len(ss.subs) > 0 {
		ss.saveClusterLocked() // cluster_session.go: the claim had no subscriptions
	}
	c.sess = ss
	if present {
		ss.reauthorizeLocked(c) // readacl.go; done before CONNACK goes out
	}
	// The CONNACK is written after the locks are released, by this
	// goroutine when it can be (write_inline.go), not by a writer
	// goroutine started for it.
	_, startW := c.push(outItem{pkt: c.connack(cp, present)})
	c.v5Attached.Store(c.version == packet.V5)
	if present {
		ss.resendLocked()
	}
	ss.fillWindowLocked()
	ss.mu.Unlock()
	s.mu.Unlock()
	if startW {
		c.startWriter()
	}

	if oldConn != nil {
		oldConn.takeResume.Store(!cp.cleanStart)
		oldConn.setCause("takenover")
		oldConn.closeWith(packet.SessionTakenOver, "", "session taken over")
	}
	s.stats.connectsTotal.Add(1)
	s.stats.connectsByVer[versionIndex(c.version)].Add(1)
	s.stats.byVersion[versionIndex(c.version)].Add(1)
	if s.events.wants(msg.EventClientConnected) {
		s.events.emitUnlocked(msg.Event{
			Kind: msg.EventClientConnected, Time: time.Now(), Node: s.opts.NodeName,
			ClientID: ss.id, Username: cp.username, PeerHost: c.remote,
			ProtoVer: byte(c.version), KeepAlive: c.keepAliveSecs,
			CleanStart: cp.cleanStart, Listener: c.listenerName(), SockName: c.sockName(),
			ConnectedAt: time.Unix(0, c.connectedAt), ExpiryInterval: cp.expiry, Props: cp.props,
		})
	}
	return owner, true
}

// ownedByOtherLocked reports whether ss belongs to an identity other than
// owner and takeovers are not allowed. Called with ss.mu held.
func (s *Server) ownedByOtherLocked(ss *Session, owner string) bool {
	return ss.owner != "" && ss.owner != owner && !s.sec.takeover.Load()
}

// mayOwn checks, before a cluster claim, that the session of clientID on
// this node (if any) does not belong to another identity than c's; it
// returns the owner when it does. openSession checks again under its
// locks.
func (s *Server) mayOwn(c *conn, clientID string) (string, bool) {
	owner := c.auth.id.Owner()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[clientID]
	if ss == nil {
		return "", true
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s.ownedByOtherLocked(ss, owner) {
		return ss.owner, false
	}
	return "", true
}

// detach runs when c's connection ended: it frees the session (or keeps it
// for its expiry), and publishes or schedules c's will.
func (s *Server) detach(c *conn) {
	ss := c.sess
	var immediateWill *msg.Message
	s.mu.Lock()
	ss.mu.Lock()
	current := ss.conn == c
	will := c.pendingWill()
	if current {
		ss.conn = nil
		ss.wakeLocked() // publishers waiting for room: backpressure.go
		ss.disconnectedAt = nanoOf(s.clock.Now())
		if ss.expiry == 0 {
			s.removeSessionLocked(ss)
			immediateWill = will
			defer s.releaseSession(ss.id) // cluster.go
		} else {
			immediateWill = s.scheduleWillLocked(ss, c, will)
			s.scheduleExpiryLocked(ss)
			ss.saveLocked()
			ss.spillQueueLocked()  // queue_disk.go: an offline backlog is on disk
			ss.saveClusterLocked() // cluster_session.go: no connection, no will
		}
	} else if will != nil && !(c.takeResume.Load() && c.connect.willDelay > 0) {
		immediateWill = will
	}
	ss.mu.Unlock()
	s.mu.Unlock()

	if immediateWill != nil {
		s.publishWill(c, immediateWill)
	}
	if s.events.wants(msg.EventClientDisconnected) {
		s.events.emitUnlocked(msg.Event{
			Kind: msg.EventClientDisconnected, Time: time.Now(), Node: s.opts.NodeName,
			ClientID: ss.id, Username: c.userName(), PeerHost: c.remote,
			ProtoVer: byte(c.version), Listener: c.listenerName(), Reason: c.cause(),
			SockName: c.sockName(), ConnectedAt: time.Unix(0, c.connectedAt), Props: c.disconnProps,
		})
	}
}

// pendingWill returns the will to publish for this connection's end, or nil:
// none after a normal DISCONNECT (unless v5 0x04) or a server shutdown.
func (c *conn) pendingWill() *msg.Message {
	will := c.will()
	if will == nil || c.noWill.Load() {
		return nil
	}
	if c.normalClose && !c.willOnClose {
		return nil
	}
	return will
}

// scheduleWillLocked returns the will when it is due now, or arms the
// session's will timer for the will delay (bounded by the session expiry).
func (s *Server) scheduleWillLocked(ss *Session, c *conn, will *msg.Message) *msg.Message {
	if will == nil {
		return nil
	}
	delay := c.connect.willDelay
	if ss.expiry < delay {
		delay = ss.expiry
	}
	if delay == 0 {
		return will
	}
	r := ss.rareLocked()
	r.delayedWill = func() { s.publishWill(c, will) }
	r.willTimer = s.clock.AfterFunc(time.Duration(delay)*time.Second, func() {
		ss.mu.Lock()
		fire := ss.conn == nil && r.willTimer != nil && ss.rare == r
		r.willTimer, r.delayedWill = nil, nil
		if fire {
			ss.saveLocked() // the will is no longer pending
		}
		ss.mu.Unlock()
		if fire {
			s.publishWill(c, will)
		}
	})
	ss.rememberWillLocked(c, will, delay)
	return nil
}

// scheduleExpiryLocked arms the timer that removes an offline session.
func (s *Server) scheduleExpiryLocked(ss *Session) {
	if ss.expiry == neverExpire {
		return
	}
	ss.rareLocked().expiryTimer = s.clock.AfterFunc(time.Duration(ss.expiry)*time.Second, func() { s.expireSession(ss) })
}

// expireSession removes ss if it is still offline; a will still waiting for
// its delay is published now, as the session ends.
func (s *Server) expireSession(ss *Session) {
	s.mu.Lock()
	ss.mu.Lock()
	if ss.conn != nil || ss.removed || ss.rare == nil || ss.rare.expiryTimer == nil {
		ss.mu.Unlock()
		s.mu.Unlock()
		return
	}
	ss.rare.expiryTimer = nil
	will := ss.stopWillLocked()
	s.removeSessionLocked(ss)
	ss.mu.Unlock()
	s.mu.Unlock()
	s.releaseSession(ss.id) // cluster.go
	if will != nil {
		will()
	}
}

// removeSessionLocked takes ss out of the registry and the trie and forgets
// its messages. Called with s.mu and ss.mu held.
func (s *Server) removeSessionLocked(ss *Session) {
	if s.sessions[ss.id] == ss {
		delete(s.sessions, ss.id)
		s.stats.sessions.Add(-1)
	}
	ss.removed = true
	for filter := range ss.subs {
		s.trieUnsubscribe(filter, ss.id)
	}
	ss.subs = nil
	ss.clearLocked()
	ss.stopExpiryLocked()
}

// publishWill publishes a connection's will message.
func (s *Server) publishWill(c *conn, will *msg.Message) {
	m := *will
	m.ID = s.nextMsgID()
	m.ReceivedAt = s.clock.Now()
	if ci := c.connect; ci.willHasExpiry {
		m.ExpiresAt = m.ReceivedAt.Add(time.Duration(ci.willExpiry) * time.Second)
	}
	s.publish(&m)
}

// usernamePtr returns name as Session.uname holds it, without an
// allocation where it can: nil for none, the identity's own field when it
// holds the same name (the session keeps the identity anyway). A pointer
// to a field of cp would keep all of cp alive.
func usernamePtr(id *auth.Identity, name string) *string {
	switch {
	case name == "":
		return nil
	case id != nil && id.Username == name:
		return &id.Username
	}
	return &name
}
