package auth

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// checkPassword allows lock-a/right, denies every other password.
type checkPassword struct{}

func (checkPassword) Authenticate(_ context.Context, ci *ConnectInfo) Result {
	if ci.Username == "lock-a" && string(ci.Password) == "right" {
		id := NewIdentity(ci, "test")
		id.Principal = ci.Username
		return Allowed(id)
	}
	return Denied(packet.BadUsernameOrPassword, "wrong")
}

func throttledChain(now *time.Time) *AuthnChain {
	return &AuthnChain{Authenticators: []Authenticator{checkPassword{}}, Throttle: &Throttle{
		UsernameBurst: 5, UsernameEvery: time.Minute, AddressBurst: 50, AddressEvery: time.Second,
		Familiar: 24 * time.Hour, now: func() time.Time { return *now }}}
}

func login(c *AuthnChain, user, password, addr string) packet.ReasonCode {
	r := c.Authenticate(context.Background(), &ConnectInfo{ClientID: user, Username: user, Password: []byte(password), RemoteAddr: addr + ":1000"})
	if r.Decision == Allow {
		return packet.Success
	}
	return r.Code
}

// TestThrottle_perUsernameAcrossAddresses: 20 guesses of one username
// from 20 addresses: 5 are checked, the rest refused at once; one more
// comes back per minute.
func TestThrottle_perUsernameAcrossAddresses(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	c := throttledChain(&now)
	var got []packet.ReasonCode
	for i := range 20 {
		got = append(got, login(c, "lock-b", "guess", fmt.Sprintf("198.51.100.%d", i+1)))
	}
	for i, code := range got {
		want := packet.BadUsernameOrPassword
		if i >= 5 {
			want = packet.ConnectionRateExceeded
		}
		require.Equal(t, want, code, "guess %d", i+1)
	}
	now = now.Add(time.Minute)
	require.Equal(t, packet.BadUsernameOrPassword, login(c, "lock-b", "guess", "198.51.100.99"), "one token back")
	require.Equal(t, packet.ConnectionRateExceeded, login(c, "lock-b", "guess", "198.51.100.99"))
	require.Equal(t, packet.BadUsernameOrPassword, login(c, "lock-c", "guess", "198.51.100.99"), "other usernames are not slowed")
}

// TestThrottle_fleetBehindOneNAT: a device that logged in from an address
// keeps logging in while guesses against its username come from
// everywhere and against others from its own address; a guesser using its
// own address and username is slowed on the pair's own tokens.
func TestThrottle_fleetBehindOneNAT(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	c := throttledChain(&now)
	const nat = "203.0.113.7"
	require.Equal(t, packet.Success, login(c, "lock-a", "right", nat))
	for i := range 10 { // lock-a's username throttled elsewhere
		login(c, "lock-a", "guess", fmt.Sprintf("198.51.100.%d", i+1))
	}
	require.Equal(t, packet.ConnectionRateExceeded, login(c, "lock-a", "right", "198.51.100.50"), "a new address is slowed")
	for i := range 60 { // the NAT's tokens spent on other usernames
		login(c, fmt.Sprintf("user-%d", i), "guess", nat)
	}
	require.Equal(t, packet.ConnectionRateExceeded, login(c, "lock-new", "x", nat), "the address is throttled")
	require.Equal(t, packet.Success, login(c, "lock-a", "right", nat), "the familiar device is not")
	for range 5 {
		require.Equal(t, packet.BadUsernameOrPassword, login(c, "lock-a", "guess", nat))
	}
	require.Equal(t, packet.ConnectionRateExceeded, login(c, "lock-a", "guess", nat), "guessing the familiar pair is slowed too")
}

// TestThrottle_tablesBounded: spraying usernames does not grow the tables
// beyond MaxEntries.
func TestThrottle_tablesBounded(t *testing.T) {
	th := &Throttle{UsernameBurst: 5, UsernameEvery: time.Minute, AddressBurst: 5, AddressEvery: time.Second, MaxEntries: 100}
	for i := range 1000 {
		th.Fail(fmt.Sprintf("u%d", i), netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
		th.Succeed(fmt.Sprintf("u%d", i), netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	require.LessOrEqual(t, len(th.users), 100)
	require.LessOrEqual(t, len(th.addrs), 100)
	require.LessOrEqual(t, len(th.known), 100)
	var nilThrottle *Throttle
	ok, _ := nilThrottle.Allow("x", netip.Addr{})
	require.True(t, ok)
}

// TestThrottle_ipv6CountsBySlash64: guesses over many usernames from one
// IPv6 host that changes its address within its /64 share the address's
// tokens; another /64 has its own.
func TestThrottle_ipv6CountsBySlash64(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	c := throttledChain(&now)
	for i := range 50 {
		require.Equal(t, packet.BadUsernameOrPassword, login(c, fmt.Sprintf("user-%d", i), "guess", fmt.Sprintf("[2001:db8:1:2::%x]", i+1)))
	}
	require.Equal(t, packet.ConnectionRateExceeded, login(c, "user-x", "guess", "[2001:db8:1:2:abcd::1]"), "same /64, another address")
	require.Equal(t, packet.BadUsernameOrPassword, login(c, "user-x", "guess", "[2001:db8:1:3::1]"), "another /64")
}
