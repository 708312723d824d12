package broker

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// This file holds the read-only snapshots of clients, subscriptions and
// retained messages the HTTP API lists, and the server-side subscribe and
// unsubscribe. Listing copies what it needs under the locks and sorts
// outside them; pages are cursor-based (the last key of the previous page),
// so a listing stays consistent while clients come and go.

// Errors of the server-side subscription methods.
var (
	// ErrBadFilter: the topic filter is not valid (or over the limits).
	ErrBadFilter = errors.New("broker: invalid topic filter")
	// ErrQuotaExceeded: the client has max_subscriptions_per_client.
	ErrQuotaExceeded = errors.New("broker: subscription quota exceeded")
	// ErrNoSubscription: the client has no subscription to the filter.
	ErrNoSubscription = errors.New("broker: no such subscription")
)

// ClientInfo is a snapshot of one client's session and connection.
type ClientInfo struct {
	ClientID string
	Username string
	// Owner is the identity the session belongs to (auth.Identity.Owner:
	// "users/user:lock-a", "cert/user:CN"…; "": unowned, e.g. anonymous);
	// only that identity may resume or take it over.
	Owner     string
	Connected bool
	// Node is the name of the hub node that holds the session (in a
	// cluster, the node the API asked the client of).
	Node string
	// ProtocolVersion is "3.1.1" or "5.0" (3.1 clients are served as 3.1.1).
	ProtocolVersion string
	// Remote and Listener describe the current (or last) connection.
	Remote   string
	Listener string
	// ConnectedAt is when the last connection was accepted;
	// DisconnectedAt when the last one ended (zero while connected).
	ConnectedAt    time.Time
	DisconnectedAt time.Time
	KeepAlive      time.Duration
	// SessionExpiry is how long the session outlives its connection;
	// negative: never expires.
	SessionExpiry time.Duration
	// Subscriptions is filled by Client only (SubscriptionCount counts
	// them), as are Will and ConnectProperties.
	Subscriptions     []SubscriptionInfo
	SubscriptionCount int
	// Inflight counts QoS 1/2 messages sent and not yet acknowledged;
	// Queued those waiting in the session; QueuedPeak the most that waited
	// at once since the session began (its queue's high-water mark).
	Inflight, Queued, QueuedPeak int
	// MessagesIn and MessagesOut count PUBLISHes from and to the client
	// since the session was created; Dropped the messages dropped for it
	// (any reason of Stats.Dropped).
	MessagesIn, MessagesOut, Dropped uint64
	// Will and ConnectProperties are what the current connection's
	// CONNECT asked for (nil: no will, no MQTT 5 properties, or offline).
	Will              *WillInfo          `json:",omitempty"`
	ConnectProperties *ConnectProperties `json:",omitempty"`
}

// SubscriptionInfo is one subscription of one client.
type SubscriptionInfo struct {
	ClientID          string
	Filter            string // as subscribed, "$share/{group}/" included
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	SubscriptionID    uint32
}

// ClientQuery selects a page of clients, in client id order.
type ClientQuery struct {
	// IDPrefix keeps client ids starting with it; Username keeps that
	// username (empty: any).
	IDPrefix, Username string
	// Connected keeps connected (true) or offline (false) clients; nil: both.
	Connected *bool
	// Search keeps client ids containing it (case-insensitive); Protocol
	// keeps one ProtocolVersion ("3.1.1", "5.0"); Address keeps clients
	// whose current address contains it (an IP or its start); empty: any.
	Search, Protocol, Address string
	// MinQueued keeps clients with at least this many messages queued or
	// in flight; MinDropped those with at least this many drops (0: any).
	MinQueued  int
	MinDropped uint64
	// After is the cursor: the last client id of the previous page.
	After string
	// Limit is the page size (at least 1).
	Limit int
}

// Clients returns one page of clients matching q, and whether more follow.
//
// It keeps the limit+1 smallest matching client ids in a sorted slice while
// it passes over the sessions once, instead of sorting all of them: at
// 200,000 sessions a sort costs hundreds of milliseconds per page, the pass
// a few. A session is snapshotted (its lock taken) only when its id could
// still make the page.
func (s *Server) Clients(q ClientQuery) (page []ClientInfo, more bool) {
	limit := max(q.Limit, 1)
	search := strings.ToLower(q.Search)
	best := make([]ClientInfo, 0, min(limit+1, 1024))
	for _, ss := range s.candidates(q.After, q.IDPrefix) {
		if len(best) > limit && ss.id >= best[limit].ClientID ||
			q.Username != "" && ss.usernameUnlocked() != q.Username ||
			search != "" && !strings.Contains(strings.ToLower(ss.id), search) ||
			q.MinDropped > 0 && ss.msgsDropped.Load() < q.MinDropped {
			continue
		}
		info := ss.info(false)
		info.Node = s.opts.NodeName
		if !q.keeps(&info) {
			continue
		}
		i, _ := slices.BinarySearchFunc(best, ss.id, func(c ClientInfo, id string) int { return strings.Compare(c.ClientID, id) })
		best = slices.Insert(best, i, info)
		if len(best) > limit+1 {
			best = best[:limit+1]
		}
	}
	if len(best) > limit {
		return best[:limit], true
	}
	return best, false
}

// keeps applies the conditions of q that need a snapshot.
func (q *ClientQuery) keeps(ci *ClientInfo) bool {
	return (q.Connected == nil || ci.Connected == *q.Connected) &&
		(q.Protocol == "" || ci.ProtocolVersion == q.Protocol) &&
		(q.Address == "" || strings.Contains(ci.Remote, q.Address)) &&
		(q.MinQueued <= 0 || ci.Queued+ci.Inflight >= q.MinQueued)
}

// candidatesPerLock is how many sessions candidates looks at per hold of
// the server lock: CONNECTs and disconnects, which take it too, wait for
// one stretch (~0.1 ms), not for a pass over every session (several ms at
// 200,000, once per page of the Clients list).
const candidatesPerLock = 4096

// candidates returns the sessions whose client id is after the cursor and
// starts with prefix, in no order. The pass lets go of the server lock
// between stretches; Go's map iteration allows that (every access is under
// the lock): a session there throughout is returned once, one created or
// removed meanwhile may or may not be, as if it had come a moment later
// or earlier.
func (s *Server) candidates(after, prefix string) []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Session, 0, len(s.sessions))
	seen := 0
	for id, ss := range s.sessions {
		if id > after && strings.HasPrefix(id, prefix) {
			out = append(out, ss)
		}
		if seen++; seen%candidatesPerLock == 0 {
			s.mu.Unlock()
			s.mu.Lock()
		}
	}
	return out
}

// Client returns the snapshot of one client, subscriptions included.
func (s *Server) Client(clientID string) (ClientInfo, bool) {
	ss := s.session(clientID)
	if ss == nil {
		return ClientInfo{}, false
	}
	ci := ss.info(true)
	ci.Node = s.opts.NodeName
	return ci, true
}

// info snapshots the session under its lock; detail adds the
// subscriptions, the will and the CONNECT properties.
func (ss *Session) info(detail bool) ClientInfo {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ci := ClientInfo{
		ClientID:          ss.id,
		Username:          ss.usernameUnlocked(),
		Owner:             ss.owner,
		Connected:         ss.conn != nil,
		ProtocolVersion:   versionName(ss.version),
		ConnectedAt:       ss.connectedAt.time(),
		DisconnectedAt:    ss.disconnectedAt.time(),
		SessionExpiry:     time.Duration(ss.expiry) * time.Second,
		SubscriptionCount: len(ss.subs),
		Inflight:          len(ss.inflight),
		Queued:            ss.queueLenLocked(),
		QueuedPeak:        int(ss.queuePeak),
		MessagesIn:        ss.msgsIn.Load(),
		MessagesOut:       ss.msgsOut.Load(),
		Dropped:           ss.msgsDropped.Load(),
	}
	if ss.expiry == neverExpire {
		ci.SessionExpiry = -1
	}
	if c := ss.conn; c != nil {
		ci.DisconnectedAt = time.Time{}
		// Set before the conn was attached (handleConnect), read-only since.
		ci.Remote, ci.Listener, ci.KeepAlive = c.remote, c.listenerName(), c.keepAlive()
		if detail {
			ci.Will, ci.ConnectProperties = c.connect.willInfo(), c.connect.properties()
		}
	}
	if detail {
		ci.Subscriptions = ss.subscriptionsLocked()
	}
	return ci
}

func versionName(v packet.Version) string {
	return protocolVersions[versionIndex(v)]
}

// subscriptionsLocked lists the session's subscriptions sorted by filter.
func (ss *Session) subscriptionsLocked() []SubscriptionInfo {
	out := make([]SubscriptionInfo, 0, len(ss.subs))
	for _, sub := range ss.subs {
		out = append(out, sub.info(ss.id))
	}
	slices.SortFunc(out, func(a, b SubscriptionInfo) int { return strings.Compare(a.Filter, b.Filter) })
	return out
}

// info describes sub, a subscription of clientID, for the API.
func (sub *subscription) info(clientID string) SubscriptionInfo {
	return SubscriptionInfo{
		ClientID: clientID, Filter: sub.filter, QoS: sub.opts.QoS, NoLocal: sub.opts.NoLocal,
		RetainAsPublished: sub.opts.RetainAsPublished, RetainHandling: sub.opts.RetainHandling,
		SubscriptionID: sub.subID,
	}
}

// SubscriptionQuery selects a page of subscriptions, ordered by client id
// then filter.
type SubscriptionQuery struct {
	// ClientID keeps one client's subscriptions (empty: all).
	ClientID string
	// Filter keeps subscriptions to exactly this filter; Topic those whose
	// filter matches this topic name (empty: any).
	Filter, Topic string
	// AfterClientID and AfterFilter are the cursor: the last subscription
	// of the previous page.
	AfterClientID, AfterFilter string
	// Limit is the page size (at least 1).
	Limit int
}

// Subscriptions returns one page of subscriptions matching q, and whether
// more follow. Like Clients it is one pass over the sessions in no order,
// keeping the limit+1 smallest (client id, filter) pairs: a session whose
// id cannot make the page any more is skipped without its lock.
func (s *Server) Subscriptions(q SubscriptionQuery) (page []SubscriptionInfo, more bool) {
	limit := max(q.Limit, 1)
	var sessions []*Session
	switch {
	case q.ClientID != "":
		if ss := s.session(q.ClientID); ss != nil && q.ClientID >= q.AfterClientID {
			sessions = []*Session{ss}
		}
	case q.Topic != "":
		sessions = s.subscribersOf(q.Topic, q.AfterClientID)
	default:
		sessions = s.candidates(q.AfterClientID, "")
		// The session at the cursor's client id may have filters after it.
		if ss := s.session(q.AfterClientID); q.AfterClientID != "" && ss != nil {
			sessions = append(sessions, ss)
		}
	}
	best := make([]SubscriptionInfo, 0, min(limit+1, 1024))
	var subs []SubscriptionInfo // reused: best keeps copies
	for _, ss := range sessions {
		if len(best) > limit && ss.id > best[limit].ClientID {
			continue
		}
		subs = ss.appendMatching(subs[:0], q.Filter, q.Topic)
		for _, si := range subs { // sorted by filter
			if ss.id == q.AfterClientID && si.Filter <= q.AfterFilter {
				continue
			}
			if len(best) > limit && compareSubs(si, best[limit]) >= 0 {
				break
			}
			i, _ := slices.BinarySearchFunc(best, si, compareSubs)
			best = slices.Insert(best, i, si)
			if len(best) > limit+1 {
				best = best[:limit+1]
			}
		}
	}
	if len(best) > limit {
		return best[:limit], true
	}
	return best, false
}

// subscribersOf returns the sessions with a subscription (shared ones
// included) matching the topic name, found in the subscription trie as a
// publish finds them, whose client id is at or after the cursor's.
func (s *Server) subscribersOf(name, after string) []*Session {
	ms := matchesPool.Get().(*topic.Matches[*subscription])
	defer matchesPool.Put(ms)
	s.subs.Match(name, ms)
	ids := make(map[string]struct{}, len(ms.Subs))
	for _, e := range ms.Subs {
		ids[e.Key] = struct{}{}
	}
	for _, g := range ms.Shared {
		for _, e := range g.Members() {
			ids[e.Key] = struct{}{}
		}
	}
	out := make([]*Session, 0, len(ids))
	for id := range ids {
		if ss := s.session(id); ss != nil && id >= after {
			out = append(out, ss)
		}
	}
	return out
}

// appendMatching appends ss's subscriptions that match filter and topic
// (subMatches) to dst, sorted by filter; only those are copied.
func (ss *Session) appendMatching(dst []SubscriptionInfo, filter, topic string) []SubscriptionInfo {
	ss.mu.Lock()
	for _, sub := range ss.subs {
		if subMatches(sub.filter, filter, topic) {
			dst = append(dst, sub.info(ss.id))
		}
	}
	ss.mu.Unlock()
	slices.SortFunc(dst, func(a, b SubscriptionInfo) int { return strings.Compare(a.Filter, b.Filter) })
	return dst
}

// compareSubs orders subscriptions by client id, then filter.
func compareSubs(a, b SubscriptionInfo) int {
	if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
		return c
	}
	return strings.Compare(a.Filter, b.Filter)
}

// subMatches applies the filter and topic conditions of a SubscriptionQuery.
func subMatches(sub, filter, name string) bool {
	if filter != "" && sub != filter {
		return false
	}
	if name == "" {
		return true
	}
	if _, inner, err := topic.SplitShare(sub); err == nil {
		sub = inner
	}
	return topic.Match(sub, name)
}

// SubscribeOptions are the options of a server-side subscription.
type SubscribeOptions struct {
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
}

// SubscribeClient subscribes clientID's session to filter as if the client
// had sent SUBSCRIBE (the same checks, limits and events), and sends it the
// matching retained messages as RetainHandling says. It reports whether the
// subscription is new (false: it replaced one with the same filter). Errors
// wrap ErrNoSession, ErrBadFilter or ErrQuotaExceeded.
func (s *Server) SubscribeClient(clientID, filter string, o SubscribeOptions) (bool, error) {
	if o.QoS > 2 || o.RetainHandling > 2 {
		return false, fmt.Errorf("qos %d, retain handling %d: %w", o.QoS, o.RetainHandling, ErrBadFilter)
	}
	shared := strings.HasPrefix(filter, topic.SharePrefix)
	if err := topic.ValidateFilter(filter); err != nil {
		return false, fmt.Errorf("%q: %w: %w", filter, ErrBadFilter, err)
	}
	if shared && o.NoLocal {
		return false, fmt.Errorf("%q: no_local on a shared subscription: %w", filter, ErrBadFilter)
	}
	ss := s.session(clientID)
	if ss == nil {
		return false, ErrNoSession
	}
	req := packet.Subscription{Filter: filter, QoS: o.QoS, NoLocal: o.NoLocal,
		RetainAsPublished: o.RetainAsPublished, RetainHandling: o.RetainHandling}
	sub, isNew, code := s.subscribe(ss, req, 0, nil)
	switch {
	case code == packet.QuotaExceeded:
		return false, ErrQuotaExceeded
	case code == packet.UnspecifiedError:
		return false, ErrNoSession // removed meanwhile
	case code.IsError():
		return false, fmt.Errorf("%q: %w (%s)", filter, ErrBadFilter, code)
	}
	if !shared && (o.RetainHandling == 0 || o.RetainHandling == 1 && isNew) {
		s.sendRetained(ss, filter, sub)
	}
	return isNew, nil
}

// UnsubscribeClient removes clientID's subscription to filter. Errors wrap
// ErrNoSession or ErrNoSubscription.
func (s *Server) UnsubscribeClient(clientID, filter string) error {
	ss := s.session(clientID)
	if ss == nil {
		return ErrNoSession
	}
	if !s.unsubscribe(ss, filter) {
		return ErrNoSubscription
	}
	return nil
}

// RetainedQuery selects a page of retained messages, in topic order.
type RetainedQuery struct {
	// Filter keeps the topics it matches (empty: "#", which, as in MQTT,
	// leaves out $-topics such as $SYS).
	Filter string
	// After is the cursor: the last topic of the previous page.
	After string
	// Limit is the page size (at least 1).
	Limit int
}

// RetainedMessages returns one page of retained messages matching q, and
// whether more follow. Expired messages are left out. Errors wrap
// ErrBadFilter.
func (s *Server) RetainedMessages(q RetainedQuery) (page []*msg.Message, more bool, err error) {
	filter := q.Filter
	if filter == "" {
		filter = "#"
	}
	if err := topic.ValidateFilter(filter); err != nil || strings.HasPrefix(filter, topic.SharePrefix) {
		return nil, false, fmt.Errorf("%q: %w", filter, ErrBadFilter)
	}
	now := s.clock.Now()
	var all []*msg.Message
	s.retained.Match(filter, func(t string, m *msg.Message) bool {
		if t > q.After && !m.Expired(now) {
			all = append(all, m)
		}
		return true
	})
	slices.SortFunc(all, func(a, b *msg.Message) int { return strings.Compare(a.Topic, b.Topic) })
	limit := max(q.Limit, 1)
	if len(all) > limit {
		return all[:limit], true, nil
	}
	return all, false, nil
}

// Retained returns the retained message of topic name t.
func (s *Server) Retained(t string) (*msg.Message, bool) {
	m, ok := s.retained.Get(t)
	if !ok || m.Expired(s.clock.Now()) {
		return nil, false
	}
	return m, true
}

// DeleteRetained removes the retained message of topic name t and reports
// whether there was one.
func (s *Server) DeleteRetained(t string) bool {
	ok := s.retained.Delete(t)
	if ok {
		s.storeRetainedRecord(&msg.Message{Topic: t}, true) // persist_session.go
	}
	return ok
}
