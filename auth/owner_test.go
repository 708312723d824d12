package auth

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

func TestClientIDPatterns(t *testing.T) {
	tests := []struct {
		patterns  ClientIDPatterns
		clientID  string
		principal string
		want      bool
	}{
		{nil, "anything", "", true},
		{ClientIDPatterns{"%u"}, "lock-a", "lock-a", true},
		{ClientIDPatterns{"%u"}, "lock-b", "lock-a", false},
		{ClientIDPatterns{"%u"}, "", "", false},
		{ClientIDPatterns{"lock-*"}, "lock-", "", true},
		{ClientIDPatterns{"lock-*"}, "lock-17", "", true},
		{ClientIDPatterns{"lock-*"}, "gate-17", "", false},
		{ClientIDPatterns{"*-%u-*"}, "site-alice-7", "alice", true},
		{ClientIDPatterns{"*-%u-*"}, "site-bob-7", "alice", false},
		{ClientIDPatterns{"a*b*c"}, "abc", "", true},
		{ClientIDPatterns{"a*b*c"}, "axxbyyc", "", true},
		{ClientIDPatterns{"a*b*c"}, "axxcyyb", "", false},
		{ClientIDPatterns{"a*a"}, "a", "", false},
		{ClientIDPatterns{"%u"}, "x*", "x*", true},
		{ClientIDPatterns{"%u"}, "xyz", "x*", false}, // the principal is literal
		{ClientIDPatterns{"100%%"}, "100%", "", true},
		{ClientIDPatterns{"gate", "%u"}, "gate", "alice", true},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, tc.patterns.Allow(tc.clientID, tc.principal), "%q %q %q", tc.patterns, tc.clientID, tc.principal)
	}
	require.NoError(t, ClientIDPatterns{"%u-*", "100%%"}.Validate())
	for _, bad := range []string{"", "%", "%c", "a%"} {
		require.ErrorIs(t, ClientIDPatterns{bad}.Validate(), ErrBadPattern, bad)
	}
}

func TestIdentity_Owner(t *testing.T) {
	tests := []struct {
		id   *Identity
		want string
	}{
		{nil, ""},
		{&Identity{ClientID: "c", Username: "u", Anonymous: true, Authenticator: "anonymous"}, ""},
		{&Identity{ClientID: "c", Username: "u"}, ""},
		{&Identity{ClientID: "c", Username: "u", Principal: "u", Authenticator: "users"}, "users/user:u"},
		{&Identity{ClientID: "c", Principal: "CN=lock", Authenticator: "cert"}, "cert/user:CN=lock"},
		{&Identity{ClientID: "lock-9", Authenticator: "devices"}, "devices/client:lock-9"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, tc.id.Owner())
	}
}

// TestCertAuthenticator_clientIDs: the certificate identity can be
// required to equal the client id.
func TestCertAuthenticator_clientIDs(t *testing.T) {
	a := CertAuthenticator{ClientIDs: ClientIDPatterns{"%u"}}
	ci := &ConnectInfo{ClientID: "lock-a", CertIdentity: "lock-a"}
	r := a.Authenticate(context.Background(), ci)
	require.Equal(t, Allow, r.Decision)
	require.Equal(t, "cert/user:lock-a", r.Identity.Owner())
	ci.ClientID = "lock-b"
	r = a.Authenticate(context.Background(), ci)
	require.Equal(t, Deny, r.Decision)
	require.Equal(t, packet.ClientIdentifierNotValid, r.Code)
	require.Equal(t, Allow, CertAuthenticator{}.Authenticate(context.Background(), ci).Decision, "no patterns: any client id")
	require.Equal(t, NoOpinion, a.Authenticate(context.Background(), &ConnectInfo{ClientID: "x"}).Decision)
}
