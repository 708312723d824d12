package auth

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// fixed answers the same result to everyone.
type fixed Result

func (f fixed) Authenticate(context.Context, *ConnectInfo) Result { return Result(f) }

func TestAuthnChain(t *testing.T) {
	allow := fixed(Allowed(&Identity{Username: "u", Authenticator: "a"}))
	deny := fixed(Denied(packet.BadUsernameOrPassword, "bad"))
	creds := &ConnectInfo{ClientID: "c", Username: "u", Password: []byte("p"), RemoteAddr: "192.0.2.1:5000"}
	bare := &ConnectInfo{ClientID: "c", RemoteAddr: "192.0.2.1:5000"}
	tests := []struct {
		name     string
		chain    AuthnChain
		ci       *ConnectInfo
		decision Decision
		code     packet.ReasonCode
		anon     bool
	}{
		{"no authenticator, anonymous allowed", AuthnChain{AllowAnonymous: true}, bare, Allow, 0, true},
		{"no authenticator, anonymous refused", AuthnChain{}, bare, Deny, packet.NotAuthorized, false},
		{"credentials nobody took", AuthnChain{Authenticators: []Authenticator{fixed(Pass)}}, creds, Deny, packet.BadUsernameOrPassword, false},
		{"pass then allow", AuthnChain{Authenticators: []Authenticator{fixed(Pass), allow}}, creds, Allow, 0, false},
		{"deny stops the chain", AuthnChain{Authenticators: []Authenticator{deny, allow}}, creds, Deny, packet.BadUsernameOrPassword, false},
		{"anonymous after passes", AuthnChain{Authenticators: []Authenticator{fixed(Pass)}, AllowAnonymous: true}, creds, Allow, 0, true},
		{"deny without a code", AuthnChain{Authenticators: []Authenticator{fixed(Result{Decision: Deny})}}, creds, Deny, packet.NotAuthorized, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.chain.Authenticate(context.Background(), tc.ci)
			require.Equal(t, tc.decision, r.Decision)
			require.Equal(t, tc.code, r.Code)
			if r.Decision == Allow {
				require.NotNil(t, r.Identity)
				require.Equal(t, tc.anon, r.Identity.Anonymous)
			}
		})
	}
}

func TestAuthnChain_bansAndFailures(t *testing.T) {
	bans := NewBanList()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bans.now = func() time.Time { return now }
	failures := &FailureTracker{MaxFailures: 3, Window: time.Minute, BanFor: time.Hour, Bans: bans,
		now: func() time.Time { return now }}
	chain := &AuthnChain{Authenticators: []Authenticator{fixed(Denied(packet.BadUsernameOrPassword, "bad"))},
		Bans: bans, Failures: failures}
	ci := &ConnectInfo{ClientID: "c", Username: "u", Password: []byte("x"), RemoteAddr: "192.0.2.9:1"}
	for range 2 {
		require.Equal(t, packet.BadUsernameOrPassword, chain.Authenticate(context.Background(), ci).Code)
	}
	r := chain.Authenticate(context.Background(), ci)
	require.Equal(t, packet.BadUsernameOrPassword, r.Code)
	require.Contains(t, r.Reason, "banned")
	require.Equal(t, packet.Banned, chain.Authenticate(context.Background(), ci).Code)
	other := &ConnectInfo{ClientID: "d", RemoteAddr: "192.0.2.10:1"}
	require.Equal(t, packet.BadUsernameOrPassword, chain.Authenticate(context.Background(), other).Code, "another address is not banned")

	now = now.Add(time.Hour)
	require.Equal(t, packet.BadUsernameOrPassword, chain.Authenticate(context.Background(), ci).Code, "ban expired")
	require.Empty(t, bans.List())
}

func TestBanList(t *testing.T) {
	b := NewBanList()
	require.NoError(t, b.Add(Ban{Kind: BanClientID, Value: "lock-7"}))
	require.NoError(t, b.Add(Ban{Kind: BanUsername, Value: "mallory"}))
	require.NoError(t, b.Add(Ban{Kind: BanAddress, Value: "198.51.100.0/24"}))
	require.ErrorIs(t, b.Add(Ban{Kind: BanAddress, Value: "not-an-ip"}), ErrBadBan)
	require.ErrorIs(t, b.Add(Ban{Kind: "host", Value: "x"}), ErrBadBan)
	require.ErrorIs(t, b.Add(Ban{Kind: BanClientID}), ErrBadBan)
	tests := []struct {
		ci     ConnectInfo
		banned bool
	}{
		{ConnectInfo{ClientID: "lock-7", RemoteAddr: "192.0.2.1:1"}, true},
		{ConnectInfo{ClientID: "lock-8", Username: "mallory", RemoteAddr: "192.0.2.1:1"}, true},
		{ConnectInfo{ClientID: "lock-8", RemoteAddr: "198.51.100.77:1"}, true},
		{ConnectInfo{ClientID: "lock-8", RemoteAddr: "[::ffff:198.51.100.77]:1"}, true},
		{ConnectInfo{ClientID: "lock-8", RemoteAddr: "192.0.2.1:1"}, false},
	}
	for _, tc := range tests {
		_, banned := b.Check(&tc.ci)
		require.Equal(t, tc.banned, banned, "%+v", tc.ci)
	}
	require.Len(t, b.List(), 3)
	removed, err := b.Remove(BanAddress, "198.51.100.0/24")
	require.NoError(t, err)
	require.True(t, removed)
	removed, err = b.Remove(BanAddress, "198.51.100.0/24")
	require.NoError(t, err)
	require.False(t, removed)
	_, banned := b.Check(&ConnectInfo{ClientID: "x", RemoteAddr: "198.51.100.77:1"})
	require.False(t, banned)
}

func TestFailureTracker_bounded(t *testing.T) {
	f := &FailureTracker{MaxFailures: 5, Window: time.Minute, BanFor: time.Minute, MaxTracked: 3}
	for i := range 10 {
		f.Fail(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
	}
	require.LessOrEqual(t, len(f.m), 3)
}

func TestCertAuthenticator(t *testing.T) {
	var c CertAuthenticator
	require.Equal(t, NoOpinion, c.Authenticate(context.Background(), &ConnectInfo{ClientID: "x", Username: "claimed"}).Decision)
	r := c.Authenticate(context.Background(), &ConnectInfo{ClientID: "x", Username: "claimed", CertIdentity: "lock-1", TLS: true})
	require.Equal(t, Allow, r.Decision)
	require.Equal(t, "lock-1", r.Identity.Username)
	require.Equal(t, "cert", r.Identity.Authenticator)
}
