package auth

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
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

// banOrigin says where a ban came from, which decides whether it is
// written to the ban file.
type banOrigin uint8

const (
	originRunTime  banOrigin = iota // Add: the HTTP API; written to the file
	originStatic                    // AddStatic: the configuration; never written
	originFailures                  // FailureTracker: short-lived; never written
)

// banEntry is a ban and its origin.
type banEntry struct {
	ban    Ban
	origin banOrigin
}

// BanList is the list of bans in force, safe for concurrent use. Checking
// an empty list costs one atomic load. Bans added with Add (the HTTP API)
// are written to the list's file, when it has one (LoadBanList), on every
// change; bans added with AddStatic (the configuration) and the failure
// tracker's bans live in memory only.
type BanList struct {
	n        atomic.Int64 // entries, for the empty fast path
	mu       sync.RWMutex
	exact    map[banKey]banEntry
	prefixes map[netip.Prefix]banEntry
	now      func() time.Time

	// saveMu serialises the changes that write the file, so that the file
	// always ends up with the latest state; it is taken before mu.
	saveMu sync.Mutex
	store  *banStore // nil: memory only
}

// NewBanList returns an empty ban list kept in memory only.
func NewBanList() *BanList {
	return &BanList{exact: map[banKey]banEntry{}, prefixes: map[netip.Prefix]banEntry{}, now: time.Now}
}

// Add adds or replaces a run-time ban (one the HTTP API adds) and, when the
// list has a file, rewrites it; if that write fails the list is left as it
// was and the error is returned. Add fails (ErrBadBan) for an unknown kind,
// an empty value, or an address that is neither an IP nor a CIDR prefix.
func (b *BanList) Add(ban Ban) error {
	return b.add(ban, originRunTime)
}

// AddStatic adds or replaces a ban of the configuration: it is never
// written to the file (the configuration adds it again at every start and
// reload). It replaces a run-time ban of the same kind and value. It fails
// like Add.
func (b *BanList) AddStatic(ban Ban) error {
	return b.add(ban, originStatic)
}

func (b *BanList) add(ban Ban, origin banOrigin) error {
	if ban.Created.IsZero() {
		ban.Created = b.now()
	}
	prefix, err := checkBan(ban)
	if err != nil {
		return err
	}
	e := banEntry{ban: ban, origin: origin}
	return b.change(func() {
		if ban.Kind == BanAddress {
			b.prefixes[prefix] = e
		} else {
			b.exact[banKey{ban.Kind, ban.Value}] = e
		}
	}, origin == originRunTime)
}

// checkBan validates ban's kind and value; for an address it returns the
// prefix the ban covers.
func checkBan(ban Ban) (netip.Prefix, error) {
	if ban.Value == "" {
		return netip.Prefix{}, fmt.Errorf("%w: empty value", ErrBadBan)
	}
	switch ban.Kind {
	case BanClientID, BanUsername:
		return netip.Prefix{}, nil
	case BanAddress:
		p, err := parseAddrOrPrefix(ban.Value)
		if err != nil {
			return p, fmt.Errorf("%w: address %q: %w", ErrBadBan, ban.Value, err)
		}
		return p, nil
	}
	return netip.Prefix{}, fmt.Errorf("%w: kind %q is not client_id, username or address", ErrBadBan, ban.Kind)
}

// change applies edit under the lock and, when save is true and the list
// has a file, writes the run-time bans to it; a failed write undoes edit.
func (b *BanList) change(edit func(), save bool) error {
	if !save || b.store == nil {
		b.mu.Lock()
		edit()
		b.count()
		b.mu.Unlock()
		return nil
	}
	b.saveMu.Lock()
	defer b.saveMu.Unlock()
	b.mu.Lock()
	exact, prefixes := maps.Clone(b.exact), maps.Clone(b.prefixes)
	edit()
	b.count()
	keep := b.runTime(b.now())
	b.mu.Unlock()
	if err := b.store.save(keep); err != nil {
		b.mu.Lock()
		b.exact, b.prefixes = exact, prefixes
		b.count()
		b.mu.Unlock()
		return err
	}
	return nil
}

// count refreshes the entry count; b.mu is held.
func (b *BanList) count() {
	b.n.Store(int64(len(b.exact) + len(b.prefixes)))
}

// runTime returns the run-time bans in force at now, sorted; b.mu is held.
func (b *BanList) runTime(now time.Time) []Ban {
	var out []Ban
	for _, e := range b.exact {
		if e.origin == originRunTime && !expired(e.ban, now) {
			out = append(out, e.ban)
		}
	}
	for _, e := range b.prefixes {
		if e.origin == originRunTime && !expired(e.ban, now) {
			out = append(out, e.ban)
		}
	}
	sortBans(out)
	return out
}

func sortBans(bans []Ban) {
	slices.SortFunc(bans, func(x, y Ban) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Value, y.Value))
	})
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

// Remove deletes the ban of that kind and value, whatever its origin, and
// rewrites the list's file when that ban was a run-time one. It returns
// false when there was no such ban, and an error (the ban is kept) when the
// file could not be written.
func (b *BanList) Remove(kind BanKind, value string) (bool, error) {
	return b.remove(kind, value, func(banOrigin) bool { return true })
}

// RemoveStatic deletes the ban of that kind and value only if it came from
// the configuration (AddStatic); false otherwise. A reload calls it for the
// bans taken out of the configuration, leaving run-time bans alone.
func (b *BanList) RemoveStatic(kind BanKind, value string) bool {
	found, _ := b.remove(kind, value, func(o banOrigin) bool { return o == originStatic })
	return found
}

func (b *BanList) remove(kind BanKind, value string, match func(banOrigin) bool) (bool, error) {
	b.mu.RLock()
	e, found := b.lookup(kind, value)
	b.mu.RUnlock()
	if !found || !match(e.origin) {
		return false, nil
	}
	// The file is rewritten whatever the origin: the entry may have been
	// replaced by a run-time one since the look-up.
	err := b.change(func() {
		if e2, ok := b.lookup(kind, value); ok && match(e2.origin) {
			b.delete(kind, value)
		}
	}, true)
	return err == nil, err
}

// lookup returns the entry of that kind and value; b.mu is held.
func (b *BanList) lookup(kind BanKind, value string) (banEntry, bool) {
	if kind == BanAddress {
		p, err := parseAddrOrPrefix(value)
		if err != nil {
			return banEntry{}, false
		}
		e, ok := b.prefixes[p]
		return e, ok
	}
	e, ok := b.exact[banKey{kind, value}]
	return e, ok
}

// delete removes the entry of that kind and value; b.mu is held.
func (b *BanList) delete(kind BanKind, value string) {
	if kind == BanAddress {
		if p, err := parseAddrOrPrefix(value); err == nil {
			delete(b.prefixes, p)
		}
		return
	}
	delete(b.exact, banKey{kind, value})
}

// List returns the bans in force, ordered by kind and value; expired bans
// are dropped.
func (b *BanList) List() []Ban {
	b.prune()
	b.mu.RLock()
	out := make([]Ban, 0, len(b.exact)+len(b.prefixes))
	for _, e := range b.exact {
		out = append(out, e.ban)
	}
	for _, e := range b.prefixes {
		out = append(out, e.ban)
	}
	b.mu.RUnlock()
	sortBans(out)
	return out
}

// prune removes expired bans.
func (b *BanList) prune() {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, e := range b.exact {
		if expired(e.ban, now) {
			delete(b.exact, k)
		}
	}
	for k, e := range b.prefixes {
		if expired(e.ban, now) {
			delete(b.prefixes, k)
		}
	}
	b.count()
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
	if e, ok := b.exact[banKey{BanClientID, ci.ClientID}]; ok && !expired(e.ban, now) {
		return e.ban, true
	}
	if ci.Username != "" {
		if e, ok := b.exact[banKey{BanUsername, ci.Username}]; ok && !expired(e.ban, now) {
			return e.ban, true
		}
	}
	if len(b.prefixes) == 0 {
		return Ban{}, false
	}
	ip := ci.IP()
	if !ip.IsValid() {
		return Ban{}, false
	}
	for p, e := range b.prefixes {
		if p.Contains(ip) && !expired(e.ban, now) {
			return e.ban, true
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
		_ = f.Bans.add(Ban{Kind: BanAddress, Value: ip.String(), Until: now.Add(f.BanFor),
			Reason: fmt.Sprintf("%d failed logins within %v", f.MaxFailures, f.Window)}, originFailures)
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
