package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/iothub-dev/iothub/mqtt/topic"
)

// FuzzClientIDPattern: any pattern is either refused by Validate or
// matched without panic; a pattern without '*' or '%' matches exactly
// itself; "*" matches everything.
func FuzzClientIDPattern(f *testing.F) {
	for _, s := range [][3]string{
		{"%u", "lock-a", "lock-a"}, {"lock-*", "lock-17", ""}, {"*-%u-*", "site-alice-7", "alice"},
		{"a*b*c", "axxbyyc", ""}, {"100%%", "100%", ""}, {"%", "x", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, pattern, clientID, principal string) {
		ps := ClientIDPatterns{pattern}
		if ps.Validate() != nil {
			return
		}
		got := ps.Allow(clientID, principal)
		if !strings.ContainsAny(pattern, "*%") && got != (clientID == pattern) {
			t.Fatalf("literal %q vs %q: %v", pattern, clientID, got)
		}
		if !(ClientIDPatterns{"*"}).Allow(clientID, principal) {
			t.Fatalf("* refused %q", clientID)
		}
	})
}

// FuzzFilterAccess: for a rule and a default, what FilterAccess says of a
// filter holds for every topic name it matches: ReadAll means Authorize
// allows it, ReadNone means Authorize denies it.
func FuzzFilterAccess(f *testing.F) {
	for _, s := range [][3]string{
		{"deny subscribe test/nosubscribe", "+/+", "test/nosubscribe"},
		{"allow subscribe devices/%c/command", "devices/+/command", "devices/A/command"},
		{"deny subscribe a/#", "#", "a/b"},
		{"allow all username=u $SYS/#", "$SYS/#", "$SYS/x"},
	} {
		f.Add(s[0], s[1], s[2], true)
	}
	id := &Identity{ClientID: "A", Username: "u", Authenticator: "users"}
	f.Fuzz(func(t *testing.T, line, filter, name string, defAllow bool) {
		r, err := ParseRule(line)
		if err != nil || topic.ValidateFilter(filter) != nil || topic.ValidateName(name) != nil || !covers(filter, name) {
			return
		}
		acl, err := NewACL([]Rule{r})
		if err != nil {
			return
		}
		def := Deny
		if defAllow {
			def = Allow
		}
		chain := &AuthzChain{Authorizers: []Authorizer{acl}, Default: def}
		ctx := context.Background()
		allowed := chain.Authorize(ctx, id, ActionSubscribe, name) == Allow
		switch access := chain.FilterAccess(ctx, id, filter); {
		case access == ReadAll && !allowed:
			t.Fatalf("%q default %s: %q is ReadAll but %q is denied", line, def, filter, name)
		case access == ReadNone && allowed:
			t.Fatalf("%q default %s: %q is ReadNone but %q is allowed", line, def, filter, name)
		}
	})
}
