package auth

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAuthzChain_FilterAccess(t *testing.T) {
	doorLock := `allow publish devices/%c/state
allow subscribe devices/%c/command
allow publish username=backend devices/+/command
allow subscribe username=backend devices/+/state
deny all #`
	lockA := &Identity{ClientID: "A", Username: "lock-a", Authenticator: "users"}
	backend := &Identity{ClientID: "backend-1", Username: "backend", Authenticator: "users"}
	tests := []struct {
		name   string
		rules  string
		def    Decision
		id     *Identity
		filter string
		want   Access
	}{
		// The interop case: default allow, one deny rule.
		{"deny rule, other topic", "deny subscribe test/nosubscribe", Allow, lockA, "test/other", ReadAll},
		{"deny rule, the topic", "deny subscribe test/nosubscribe", Allow, lockA, "test/nosubscribe", ReadNone},
		{"deny rule, +/+", "deny subscribe test/nosubscribe", Allow, lockA, "+/+", ReadSome},
		{"deny rule, #", "deny subscribe test/nosubscribe", Allow, lockA, "#", ReadSome},
		{"deny rule, shared #", "deny subscribe test/nosubscribe", Allow, lockA, "$share/g/#", ReadSome},
		{"deny rule, $SYS", "deny subscribe test/#", Allow, lockA, "$SYS/#", ReadAll},
		{"deny covers", "deny subscribe test/#", Allow, lockA, "test/a/+", ReadNone},
		// The door lock, default deny.
		{"own commands", doorLock, Deny, lockA, "devices/A/command", ReadAll},
		{"another lock's commands", doorLock, Deny, lockA, "devices/B/command", ReadNone},
		{"every lock's commands", doorLock, Deny, lockA, "devices/+/command", ReadSome},
		{"everything", doorLock, Deny, lockA, "#", ReadSome},
		{"states", doorLock, Deny, lockA, "devices/+/state", ReadNone},
		{"backend states", doorLock, Deny, backend, "devices/+/state", ReadAll},
		{"backend one state", doorLock, Deny, backend, "devices/A/state", ReadAll},
		{"superuser", doorLock, Deny, &Identity{Superuser: true}, "#", ReadAll},
		// First match: an earlier allow covering part of a later deny.
		{"allow before deny", "allow subscribe a/public/#\ndeny subscribe a/#", Allow, lockA, "a/#", ReadSome},
		{"allow before deny, inside", "allow subscribe a/public/#\ndeny subscribe a/#", Allow, lockA, "a/public/x", ReadAll},
		{"no rule, default deny", "", Deny, lockA, "x", ReadNone},
		{"no rule, default allow", "", Allow, lockA, "x", ReadAll},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := ParseRules(tc.rules)
			require.NoError(t, err)
			acl, err := NewACL(rules)
			require.NoError(t, err)
			chain := &AuthzChain{Authorizers: []Authorizer{IdentityRules{}, acl}, Default: tc.def}
			require.Equal(t, tc.want, chain.FilterAccess(context.Background(), tc.id, tc.filter))
		})
	}
}

// TestAuthzChain_FilterAccessAgreesWithTopics: for every topic a filter
// matches, Authorize agrees with FilterAccess: under ReadAll every topic
// is allowed, under ReadNone none is, and under ReadSome the per-message
// check decides.
func TestAuthzChain_FilterAccessAgreesWithTopics(t *testing.T) {
	rules, err := ParseRules("allow subscribe a/public/#\ndeny subscribe a/#\ndeny subscribe b/+/secret\nallow subscribe username=u c/%c/#")
	require.NoError(t, err)
	acl, err := NewACL(rules)
	require.NoError(t, err)
	topics := []string{"a/public/x", "a/private", "a/public", "b/1/secret", "b/1/open", "c/me/x", "c/you/x", "d"}
	filters := []string{"#", "a/#", "a/public/#", "b/+/secret", "b/#", "c/me/#", "c/+/x", "d", "+"}
	for _, def := range []Decision{Allow, Deny} {
		chain := &AuthzChain{Authorizers: []Authorizer{acl}, Default: def}
		id := &Identity{ClientID: "me", Username: "u", Authenticator: "users"}
		for _, f := range filters {
			access := chain.FilterAccess(context.Background(), id, f)
			for _, tp := range topics {
				if !matchName(f, tp) {
					continue
				}
				allowed := chain.Authorize(context.Background(), id, ActionSubscribe, tp) == Allow
				switch access {
				case ReadAll:
					require.True(t, allowed, "default %s: %s is ReadAll but %s is denied", def, f, tp)
				case ReadNone:
					require.False(t, allowed, "default %s: %s is ReadNone but %s is allowed", def, f, tp)
				}
			}
		}
	}
}

// matchName reports whether the topic name matches the filter.
func matchName(filter, name string) bool { return covers(filter, name) }
