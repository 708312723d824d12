package broker

import (
	"context"
	"strings"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/topic"
)

// This file enforces read access per delivered message. A SUBSCRIBE is
// refused only when its filter can match nothing the client may read
// (auth.ReadNone). A filter the ACL allows in part (a deny rule overlaps
// it, an allow rule covers part of it: auth.ReadSome) is accepted, and
// each message it would deliver is checked against the subscriber's read
// access, cached per topic per session and dropped from the cache when the
// rules change. Subscriptions whose filter is wholly readable (ReadAll, by
// far the most) pay one atomic load per delivery. On resume, a session's
// subscriptions, queued and unacknowledged messages are authorized again
// against the identity of the client resuming it.

// filterAccesser is what auth.AuthzChain offers beyond auth.Authorizer.
type filterAccesser interface {
	FilterAccess(ctx context.Context, id *auth.Identity, filter string) auth.Access
}

// filterAccess says what id may read of filter under h's authorizer.
func filterAccess(h *authHooks, id *auth.Identity, filter string) auth.Access {
	if h.authz == nil {
		return auth.ReadAll
	}
	if strings.HasPrefix(filter, topic.SharePrefix) {
		if _, inner, err := topic.SplitShare(filter); err == nil {
			filter = inner
		}
	}
	if fa, ok := h.authz.(filterAccesser); ok {
		return fa.FilterAccess(context.Background(), id, filter)
	}
	if h.authz.Authorize(context.Background(), id, auth.ActionSubscribe, filter) == auth.Allow {
		return auth.ReadAll
	}
	return auth.ReadNone
}

// setAccess records sub's access under generation gen.
func (sub *subscription) setAccess(gen uint64, a auth.Access) {
	sub.read.Store(gen<<2 | uint64(a))
}

// needsReadCheck reports whether a message delivered through sub must be
// checked against the subscriber's read access under h: its filter is not
// wholly readable. The access is computed again after a reload; a session
// with no identity yet (restored from the store while its client is
// away) is not checked now: its messages are when a client resumes it.
func (sub *subscription) needsReadCheck(h *authHooks) bool {
	v := sub.read.Load()
	if v>>2 == h.gen {
		return auth.Access(v&3) != auth.ReadAll
	}
	id := sub.sess.ident.Load()
	if id == nil {
		return false
	}
	a := filterAccess(h, id, sub.filter)
	sub.setAccess(h.gen, a)
	return a != auth.ReadAll
}

// readHooks returns the authorization hooks when per-message read checks
// can apply (an authorizer is set), else nil.
func (s *Server) readHooks() *authHooks {
	if h := s.sec.hooks.Load(); h.authz != nil {
		return h
	}
	return nil
}

// mayReadLocked reports whether the session's client may read a message
// on the topic name, through the session's cache of decisions. Without an
// authorizer or an identity it may.
func (ss *Session) mayReadLocked(name string) bool {
	h := ss.s.readHooks()
	id := ss.ident.Load()
	if h == nil || id == nil {
		return true
	}
	rc := ss.readCache
	if rc == nil {
		rc = &readCache{gen: h.gen, m: make(map[string]bool, 8)}
		ss.readCache = rc
	}
	if rc.gen != h.gen || len(rc.m) >= aclCacheSize {
		rc.gen = h.gen
		clear(rc.m)
	}
	if ok, hit := rc.m[name]; hit {
		return ok
	}
	ok := h.authz.Authorize(context.Background(), id, auth.ActionSubscribe, name) == auth.Allow
	rc.m[strings.Clone(name)] = ok // the name may alias a packet buffer
	return ok
}

// readCache is a session's read decisions per topic name under
// authorization generation gen; behind a pointer in Session, which only
// sessions under an authorizer use.
type readCache struct {
	gen uint64
	m   map[string]bool
}

// clearReadCacheLocked forgets the decisions (another identity took the
// session). Called with ss.mu held.
func (ss *Session) clearReadCacheLocked() {
	if ss.readCache != nil {
		clear(ss.readCache.m)
	}
}

// readDeniedLocked accounts for a delivery the subscriber may not read:
// counted as a read denial; a command (SendToClient) is also dropped, so
// that its caller hears not_authorized.
func (ss *Session) readDeniedLocked(d delivery) {
	ss.s.stats.authzDeniedRead.Add(1)
	if d.notify != nil {
		ss.s.drop(ss, d, DropNotAuthorized)
	}
}

// reauthorizeLocked authorizes a resumed session again for the identity
// of the client resuming it: a subscription it may no longer hold is
// removed (counted and logged as a refused subscription), queued and
// unacknowledged messages it may no longer read are dropped
// (not_authorized). Called with s.mu and ss.mu held, before the resend.
func (ss *Session) reauthorizeLocked(c *conn) {
	h := ss.s.readHooks()
	if h == nil {
		return
	}
	id := ss.ident.Load()
	changed := false
	for filter, sub := range ss.subs {
		a := filterAccess(h, id, filter)
		sub.setAccess(h.gen, a)
		if a != auth.ReadNone {
			continue
		}
		delete(ss.subs, filter)
		if ss.s.subs.Unsubscribe(filter, ss.id) {
			ss.s.stats.subscriptions.Add(-1)
		}
		c.denied(auth.ActionSubscribe, filter)
		changed = true
	}
	if changed {
		ss.saveLocked()
	}
	ss.dropUnreadableLocked()
}

// dropUnreadableLocked drops the queued and unacknowledged messages the
// session's client may not read. A QoS 2 message whose PUBREC came stays:
// only its PUBCOMP is missing.
func (ss *Session) dropUnreadableLocked() {
	dropped := false
	for n := ss.queue.len(); n > 0; n-- {
		d := ss.popLocked()
		if ss.mayReadLocked(d.m.Topic) {
			ss.pushLocked(d)
			continue
		}
		ss.forgetLocked(&d)
		ss.s.drop(ss, d, DropNotAuthorized)
		dropped = true
	}
	for pid, ob := range ss.inflight {
		if ob.released || ss.mayReadLocked(ob.d.m.Topic) {
			continue
		}
		delete(ss.inflight, pid)
		ss.forgetLocked(&ob.d)
		ss.s.stats.inflight.Add(-1)
		if ob.unsent {
			ss.unsent--
		}
		ss.s.drop(ss, ob.d, DropNotAuthorized)
		dropped = true
	}
	if dropped {
		ss.wakeLocked()
	}
}
