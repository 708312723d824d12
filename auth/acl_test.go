package auth

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func mustRules(t *testing.T, text string) *ACL {
	t.Helper()
	rules, err := ParseRules(text)
	require.NoError(t, err)
	acl, err := NewACL(rules)
	require.NoError(t, err)
	return acl
}

const doorLockACL = `
# Each lock publishes its own state and reads its own commands.
allow publish devices/%c/state
allow subscribe devices/%c/command
# The backend (authenticated as user "backend") sends commands, reads states.
allow publish username=backend devices/+/command
allow subscribe username=backend devices/+/state
allow all address=10.0.0.0/8 lab/%u/#
deny all #
`

func TestACL_doorLock(t *testing.T) {
	acl := mustRules(t, doorLockACL)
	lockA := &Identity{ClientID: "A", Username: "lock", IP: netip.MustParseAddr("192.0.2.1")}
	backend := &Identity{ClientID: "svc", Username: "backend", IP: netip.MustParseAddr("192.0.2.2")}
	anonBackend := &Identity{ClientID: "svc", Username: "backend", Anonymous: true}
	lab := &Identity{ClientID: "x", Username: "ann", IP: netip.MustParseAddr("10.1.2.3")}
	evil := &Identity{ClientID: "+", Username: "#", IP: netip.MustParseAddr("10.1.2.3")}
	tests := []struct {
		name   string
		id     *Identity
		action Action
		topic  string
		want   Decision
	}{
		{"own state", lockA, ActionPublish, "devices/A/state", Allow},
		{"own command", lockA, ActionSubscribe, "devices/A/command", Allow},
		{"other state", lockA, ActionPublish, "devices/B/state", Deny},
		{"other command", lockA, ActionSubscribe, "devices/B/command", Deny},
		{"all commands", lockA, ActionSubscribe, "devices/+/command", Deny},
		{"everything", lockA, ActionSubscribe, "#", Deny},
		{"own command publish", lockA, ActionPublish, "devices/A/command", Deny},
		{"own state subscribe", lockA, ActionSubscribe, "devices/A/state", Deny},
		{"backend sends", backend, ActionPublish, "devices/A/command", Allow},
		{"backend reads states", backend, ActionSubscribe, "devices/+/state", Allow},
		{"backend reads one state", backend, ActionSubscribe, "devices/A/state", Allow},
		{"backend reads commands", backend, ActionSubscribe, "devices/+/command", Deny},
		{"anonymous claiming backend", anonBackend, ActionPublish, "devices/A/command", Deny},
		{"lab by address and username", lab, ActionPublish, "lab/ann/x/y", Allow},
		{"lab other user", lab, ActionSubscribe, "lab/bob/#", Deny},
		{"wildcard client id does not widen", evil, ActionSubscribe, "devices/+/command", Deny},
		{"wildcard username does not widen", evil, ActionSubscribe, "lab/#", Deny},
		{"sys is not matched by #", lockA, ActionSubscribe, "$SYS/#", NoOpinion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, acl.Authorize(context.Background(), tc.id, tc.action, tc.topic))
		})
	}
}

func TestACL_firstMatchWins(t *testing.T) {
	acl := mustRules(t, "deny subscribe a/secret/#\nallow subscribe a/#")
	id := &Identity{ClientID: "c"}
	require.Equal(t, Deny, acl.Authorize(context.Background(), id, ActionSubscribe, "a/#"), "overlaps a denied filter")
	require.Equal(t, Deny, acl.Authorize(context.Background(), id, ActionSubscribe, "a/+/x"))
	require.Equal(t, Allow, acl.Authorize(context.Background(), id, ActionSubscribe, "a/public/#"))
	require.Equal(t, NoOpinion, acl.Authorize(context.Background(), id, ActionPublish, "a/secret/x"), "subscribe rules say nothing of publish")
}

func TestCoversOverlaps(t *testing.T) {
	tests := []struct {
		rule, sub      string
		cover, overlap bool
	}{
		{"a/b", "a/b", true, true},
		{"a/+", "a/b", true, true},
		{"a/+", "a/+", true, true},
		{"a/b", "a/+", false, true},
		{"a/#", "a", true, true},
		{"a/#", "a/b/c/#", true, true},
		{"a/b/#", "a/#", false, true},
		{"#", "$SYS/x", false, false},
		{"+/x", "$SYS/x", false, false},
		{"$SYS/#", "$SYS/x", true, true},
		{"a/b", "c/#", false, false},
		{"a/+/c", "a/b/+", false, true},
		{"a", "a/#", false, true},
		{"a/b", "a/b/c", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.rule+" vs "+tc.sub, func(t *testing.T) {
			require.Equal(t, tc.cover, covers(tc.rule, tc.sub), "covers")
			require.Equal(t, tc.overlap, overlaps(tc.rule, tc.sub), "overlaps")
			require.Equal(t, tc.overlap, overlaps(tc.sub, tc.rule), "overlaps is symmetric")
		})
	}
}

func TestParseRule(t *testing.T) {
	tests := []struct {
		line string
		want string // "" means an error
	}{
		{"allow publish devices/%c/state", "allow publish devices/%c/state"},
		{"  deny   all   username=bob  a/#  b ", "deny all username=bob a/# b"},
		{"allow pubsub address=10.0.0.0/8 x", "allow all address=10.0.0.0/8 x"},
		{"allow subscribe client_id=lock-1 devices/lock-1/#", "allow subscribe client_id=lock-1 devices/lock-1/#"},
		{"permit publish a", ""},
		{"allow post a", ""},
		{"allow publish", ""},
		{"allow publish client_id=a", ""},
		{"allow publish client_id=a username=b t", ""},
		{"allow publish username= t", ""},
		{"allow publish address=nowhere t", ""},
		{"allow publish a/#/b", ""},
		{"allow publish $share/g/a", ""},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			r, err := ParseRule(tc.line)
			if tc.want == "" {
				require.ErrorIs(t, err, ErrBadRule)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, r.String())
		})
	}
}

func TestParseRules_lineNumbers(t *testing.T) {
	_, err := ParseRules("allow publish a\n\n# c\nallow nope b\n")
	require.ErrorContains(t, err, "line 4")
}

func TestAuthzChain(t *testing.T) {
	allowA := mustRules(t, "allow publish a")
	denyA := mustRules(t, "deny publish a")
	id := &Identity{ClientID: "c"}
	ctx := context.Background()
	tests := []struct {
		name  string
		chain *AuthzChain
		want  Decision
	}{
		{"nil allows", nil, Allow},
		{"empty default allow", &AuthzChain{}, Allow},
		{"empty default deny", &AuthzChain{Default: Deny}, Deny},
		{"allow", &AuthzChain{Authorizers: []Authorizer{allowA}, Default: Deny}, Allow},
		{"any deny wins", &AuthzChain{Authorizers: []Authorizer{allowA, denyA}}, Deny},
		{"no opinion falls to default", &AuthzChain{Authorizers: []Authorizer{mustRules(t, "allow publish b")}, Default: Deny}, Deny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.chain.Authorize(ctx, id, ActionPublish, "a"))
		})
	}
	su := &Identity{ClientID: "root", Superuser: true}
	require.Equal(t, Allow, (&AuthzChain{Authorizers: []Authorizer{denyA}}).Authorize(ctx, su, ActionPublish, "a"))
	own, err := ParseRule("allow publish own/%c")
	require.NoError(t, err)
	withRules := &Identity{ClientID: "c", Rules: &[]Rule{own}}
	chain := &AuthzChain{Authorizers: []Authorizer{IdentityRules{}}, Default: Deny}
	require.Equal(t, Allow, chain.Authorize(ctx, withRules, ActionPublish, "own/c"))
	require.Equal(t, Deny, chain.Authorize(ctx, withRules, ActionPublish, "own/d"))
}
