package auth

import (
	"net/netip"
	"sync"
	"time"
)

// Throttle slows password guessing, per username and per address, without
// locking out a fleet behind one NAT address. Failed logins spend tokens:
// a username holds UsernameBurst and gets one back every UsernameEvery, an
// address holds AddressBurst and gets one back every AddressEvery. A login
// attempt whose username or address has no token left is refused at once
// (Connection rate exceeded), before any password is checked, and spends
// nothing: a guesser gets one try per refill, from any number of
// addresses.
//
// A username that logged in from an address is familiar there for
// Familiar: its attempts from that address are counted apart, in a bucket
// of their own (UsernameBurst, UsernameEvery) instead of the username's
// and the address's. So the devices of a fleet keep connecting while
// someone elsewhere guesses their passwords, or someone behind the same
// NAT exhausts the address's tokens; only a device that never logged in
// from that address can be slowed by others, and a guesser behind a
// device's own NAT is slowed on that device's own bucket. A nil *Throttle
// throttles nothing. Safe for concurrent use.
type Throttle struct {
	// UsernameBurst and UsernameEvery are a username's failure tokens.
	UsernameBurst int
	UsernameEvery time.Duration
	// AddressBurst and AddressEvery are an address's failure tokens.
	AddressBurst int
	AddressEvery time.Duration
	// Familiar is how long a successful login exempts its (username,
	// address) pair.
	Familiar time.Duration
	// MaxEntries bounds each table (usernames, addresses, familiar pairs;
	// 0: 100,000).
	MaxEntries int

	mu    sync.Mutex
	users map[string]*tokens
	addrs map[netip.Addr]*tokens
	known map[familiarKey]*familiar
	now   func() time.Time
}

// familiar is a (username, address) pair that logged in: until when it is
// familiar, and its own failure tokens.
type familiar struct {
	until time.Time
	b     *tokens
}

type tokens struct {
	n  float64
	at time.Time
}

type familiarKey struct {
	username string
	ip       netip.Addr
}

func (t *Throttle) clock() time.Time {
	if t.now != nil {
		return t.now()
	}
	return time.Now()
}

// level returns b's tokens at now, refilled one per every up to burst (a
// missing bucket is full).
func level(b *tokens, burst int, every time.Duration, now time.Time) float64 {
	if b == nil {
		return float64(burst)
	}
	n := b.n
	if every > 0 {
		n += float64(now.Sub(b.at)) / float64(every)
	}
	return min(n, float64(burst))
}

// Allow reports whether a login for username from ip may be checked now;
// the answer names what is throttled ("username" or "address") when not.
func (t *Throttle) Allow(username string, ip netip.Addr) (bool, string) {
	if t == nil {
		return true, ""
	}
	now := t.clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.familiarLocked(username, ip, now); f != nil {
		if t.UsernameBurst > 0 && level(f.b, t.UsernameBurst, t.UsernameEvery, now) < 1 {
			return false, "username"
		}
		return true, ""
	}
	if username != "" && t.UsernameBurst > 0 && level(t.users[username], t.UsernameBurst, t.UsernameEvery, now) < 1 {
		return false, "username"
	}
	if ip.IsValid() && t.AddressBurst > 0 && level(t.addrs[network(ip)], t.AddressBurst, t.AddressEvery, now) < 1 {
		return false, "address"
	}
	return true, ""
}

// network is what an address's failure tokens belong to: an IPv4
// address, or the /64 of an IPv6 one (a host can pick any address in it).
func network(ip netip.Addr) netip.Addr {
	if p, err := ip.Prefix(64); err == nil && ip.Is6() {
		return p.Addr()
	}
	return ip
}

// familiarLocked returns the pair's entry while it is familiar, else nil.
func (t *Throttle) familiarLocked(username string, ip netip.Addr, now time.Time) *familiar {
	if username == "" || !ip.IsValid() {
		return nil
	}
	if f := t.known[familiarKey{username, ip}]; f != nil && now.Before(f.until) {
		return f
	}
	return nil
}

// Fail spends a token of the username and of the address of a failed
// login, or of the pair's own bucket when it is familiar.
func (t *Throttle) Fail(username string, ip netip.Addr) {
	if t == nil {
		return
	}
	now := t.clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.familiarLocked(username, ip, now); f != nil {
		n := level(f.b, t.UsernameBurst, t.UsernameEvery, now) - 1
		f.b = &tokens{n: max(n, 0), at: now}
		return
	}
	if username != "" && t.UsernameBurst > 0 {
		if t.users == nil {
			t.users = map[string]*tokens{}
		}
		spend(t.users, username, t.UsernameBurst, t.UsernameEvery, now, t.max())
	}
	if ip.IsValid() && t.AddressBurst > 0 {
		if t.addrs == nil {
			t.addrs = map[netip.Addr]*tokens{}
		}
		spend(t.addrs, network(ip), t.AddressBurst, t.AddressEvery, now, t.max())
	}
}

// spend takes one token of m[k], making room in a full table first by
// forgetting buckets that are full again (as good as absent), then
// arbitrary ones.
func spend[K comparable](m map[K]*tokens, k K, burst int, every time.Duration, now time.Time, maxEntries int) {
	b := m[k]
	if b == nil && len(m) >= maxEntries {
		for key, x := range m {
			if level(x, burst, every, now) >= float64(burst) {
				delete(m, key)
			}
		}
		for key := range m {
			if len(m) < maxEntries*9/10 {
				break
			}
			delete(m, key)
		}
	}
	n := level(b, burst, every, now) - 1
	if b == nil {
		b = &tokens{}
		m[k] = b
	}
	b.n, b.at = max(n, 0), now
}

// Succeed makes the (username, address) pair of a successful login
// familiar for Familiar.
func (t *Throttle) Succeed(username string, ip netip.Addr) {
	if t == nil || t.Familiar <= 0 || username == "" || !ip.IsValid() {
		return
	}
	now := t.clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.known == nil {
		t.known = map[familiarKey]*familiar{}
	}
	key := familiarKey{username, ip}
	f := t.known[key]
	if f == nil && len(t.known) >= t.max() {
		for k, x := range t.known {
			if !now.Before(x.until) {
				delete(t.known, k)
			}
		}
		for k := range t.known {
			if len(t.known) < t.max()*9/10 {
				break
			}
			delete(t.known, k)
		}
	}
	if f == nil {
		f = &familiar{}
		t.known[key] = f
	}
	f.until = now.Add(t.Familiar)
}

func (t *Throttle) max() int {
	if t.MaxEntries > 0 {
		return t.MaxEntries
	}
	return 100_000
}
