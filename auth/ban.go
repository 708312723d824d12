package auth

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BanKind says what a Ban matches.
type BanKind string

// The ban kinds.
const (
	BanClientID BanKind = "client_id"
	BanUsername BanKind = "username"
	// BanAddress matches the peer's IP address: one address ("192.0.2.7")
	// or a CIDR prefix ("192.0.2.0/24").
	BanAddress BanKind = "address"
)

// Ban refuses connections whose client id, username or address matches,
// until it expires. The JSON form is what the HTTP API exchanges.
type Ban struct {
	// Kind is client_id, username or address.
	Kind BanKind `json:"kind"`
	// Value is the client id, username, IP address or CIDR prefix.
	Value string `json:"value"`
	// Reason is shown in logs and listings.
	Reason string `json:"reason,omitempty"`
	// Until is when the ban ends; zero means never.
	Until time.Time `json:"until,omitzero"`
	// Created is when the ban was added (set by Add when zero).
	Created time.Time `json:"created,omitzero"`
}

// ErrBadBan is returned by BanList.Add for a ban with an unknown kind or a
// bad value.
var ErrBadBan = errors.New("auth: invalid ban")

type banKey struct {
	kind  BanKind
	value string
}

// BanList is the run-time list of bans, safe for concurrent use. Checking
// an empty list costs one atomic load. Bans live in memory: a restart
// clears them (configured bans are added again at start).
type BanList struct {
	n        atomic.Int64 // entries, for the empty fast path
	mu       sync.RWMutex
	exact    map[banKey]Ban
	prefixes map[netip.Prefix]Ban
	now      func() time.Time
}

// NewBanList returns an empty ban list.
func NewBanList() *BanList {
	return &BanList{exact: map[banKey]Ban{}, prefixes: map[netip.Prefix]Ban{}, now: time.Now}
}

// Add adds or replaces a ban. It fails (ErrBadBan) for an unknown kind, an
// empty value, or an address that is neither an IP nor a CIDR prefix.
func (b *BanList) Add(ban Ban) error {
	if ban.Value == "" {
		return fmt.Errorf("%w: empty value", ErrBadBan)
	}
	if ban.Created.IsZero() {
		ban.Created = b.now()
	}
	var prefix netip.Prefix
	switch ban.Kind {
	case BanClientID, BanUsername:
	case BanAddress:
		p, err := parseAddrOrPrefix(ban.Value)
		if err != nil {
			return fmt.Errorf("%w: address %q: %w", ErrBadBan, ban.Value, err)
		}
		prefix = p
	default:
		return fmt.Errorf("%w: kind %q is not client_id, username or address", ErrBadBan, ban.Kind)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ban.Kind == BanAddress {
		b.prefixes[prefix] = ban
	} else {
		b.exact[banKey{ban.Kind, ban.Value}] = ban
	}
	b.n.Store(int64(len(b.exact) + len(b.prefixes)))
	return nil
}

// parseAddrOrPrefix parses "192.0.2.7" as a /32 and "192.0.2.0/24" as is.
func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("parse prefix: %w", err)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parse address: %w", err)
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// Remove deletes the ban of that kind and value; false when there was none.
func (b *BanList) Remove(kind BanKind, value string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	found := false
	if kind == BanAddress {
		if p, err := parseAddrOrPrefix(value); err == nil {
			_, found = b.prefixes[p]
			delete(b.prefixes, p)
		}
	} else {
		_, found = b.exact[banKey{kind, value}]
		delete(b.exact, banKey{kind, value})
	}
	b.n.Store(int64(len(b.exact) + len(b.prefixes)))
	return found
}

// List returns the bans in force, ordered by kind and value; expired bans
// are dropped.
func (b *BanList) List() []Ban {
	b.prune()
	b.mu.RLock()
	out := make([]Ban, 0, len(b.exact)+len(b.prefixes))
	for _, ban := range b.exact {
		out = append(out, ban)
	}
	for _, ban := range b.prefixes {
		out = append(out, ban)
	}
	b.mu.RUnlock()
	slices.SortFunc(out, func(x, y Ban) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Value, y.Value))
	})
	return out
}

// prune removes expired bans.
func (b *BanList) prune() {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, ban := range b.exact {
		if expired(ban, now) {
			delete(b.exact, k)
		}
	}
	for k, ban := range b.prefixes {
		if expired(ban, now) {
			delete(b.prefixes, k)
		}
	}
	b.n.Store(int64(len(b.exact) + len(b.prefixes)))
}

func expired(ban Ban, now time.Time) bool {
	return !ban.Until.IsZero() && !now.Before(ban.Until)
}

// Check returns the ban in force that matches ci's client id, username or
// address, if any.
func (b *BanList) Check(ci *ConnectInfo) (Ban, bool) {
	if b == nil || b.n.Load() == 0 {
		return Ban{}, false
	}
	now := b.now()
	b.mu.RLock()
	defer b.mu.RUnlock()
	if ban, ok := b.exact[banKey{BanClientID, ci.ClientID}]; ok && !expired(ban, now) {
		return ban, true
	}
	if ci.Username != "" {
		if ban, ok := b.exact[banKey{BanUsername, ci.Username}]; ok && !expired(ban, now) {
			return ban, true
		}
	}
	if len(b.prefixes) == 0 {
		return Ban{}, false
	}
	ip := ci.IP()
	if !ip.IsValid() {
		return Ban{}, false
	}
	for p, ban := range b.prefixes {
		if p.Contains(ip) && !expired(ban, now) {
			return ban, true
		}
	}
	return Ban{}, false
}

// FailureTracker counts failed logins per peer IP address; MaxFailures
// within Window bans the address in Bans for BanFor. The zero MaxFailures
// turns it off. It keeps at most MaxTracked addresses (the oldest windows
// are forgotten first when full).
type FailureTracker struct {
	// MaxFailures failed logins within Window ban the address.
	MaxFailures int
	// Window is the period failures are counted over.
	Window time.Duration
	// BanFor is how long the address stays banned.
	BanFor time.Duration
	// Bans receives the bans.
	Bans *BanList
	// MaxTracked bounds the addresses remembered (0: 100,000).
	MaxTracked int

	mu  sync.Mutex
	m   map[netip.Addr]*failures
	now func() time.Time
}

type failures struct {
	count int
	start time.Time
}

// Fail records a failed login from ip; it returns true when that failure
// banned the address.
func (f *FailureTracker) Fail(ip netip.Addr) bool {
	if f == nil || f.MaxFailures <= 0 || !ip.IsValid() {
		return false
	}
	now := f.clock()
	f.mu.Lock()
	if f.m == nil {
		f.m = map[netip.Addr]*failures{}
	}
	e := f.m[ip]
	if e == nil || now.Sub(e.start) >= f.Window {
		f.makeRoom(now)
		e = &failures{start: now}
		f.m[ip] = e
	}
	e.count++
	ban := e.count >= f.MaxFailures
	if ban {
		delete(f.m, ip)
	}
	f.mu.Unlock()
	if ban && f.Bans != nil {
		_ = f.Bans.Add(Ban{Kind: BanAddress, Value: ip.String(), Until: now.Add(f.BanFor),
			Reason: fmt.Sprintf("%d failed logins within %v", f.MaxFailures, f.Window)})
	}
	return ban
}

// Succeed forgets the failures of ip (a successful login).
func (f *FailureTracker) Succeed(ip netip.Addr) {
	if f == nil || f.MaxFailures <= 0 {
		return
	}
	f.mu.Lock()
	delete(f.m, ip)
	f.mu.Unlock()
}

func (f *FailureTracker) clock() time.Time {
	if f.now != nil {
		return f.now()
	}
	return time.Now()
}

// makeRoom drops expired windows, and the oldest one when still full.
// Called with f.mu held.
func (f *FailureTracker) makeRoom(now time.Time) {
	limit := f.MaxTracked
	if limit <= 0 {
		limit = 100_000
	}
	if len(f.m) < limit {
		return
	}
	var oldest netip.Addr
	var oldestStart time.Time
	for ip, e := range f.m {
		if now.Sub(e.start) >= f.Window {
			delete(f.m, ip)
		} else if oldestStart.IsZero() || e.start.Before(oldestStart) {
			oldest, oldestStart = ip, e.start
		}
	}
	if len(f.m) >= limit {
		delete(f.m, oldest)
	}
}
