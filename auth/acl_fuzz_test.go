package auth

import (
	"context"
	"net/netip"
	"testing"
)

// FuzzACLRule parses one-line rules: a rule that parses must print back to
// a line that parses to the same rule, and evaluating it must not panic.
func FuzzACLRule(f *testing.F) {
	for _, s := range []string{
		"allow publish devices/%c/state",
		"allow subscribe devices/%c/command",
		"deny all #",
		"deny subscribe username=bob a/+/b/#",
		"allow all address=10.0.0.0/8 lab/%u/#",
		"allow pubsub client_id=x %c%u/%%c",
		"allow publish address=::1 $SYS/#",
	} {
		f.Add(s, "devices/A/state")
	}
	id := &Identity{ClientID: "A", Username: "u", IP: netip.MustParseAddr("10.0.0.1")}
	f.Fuzz(func(t *testing.T, line, name string) {
		r, err := ParseRule(line)
		if err != nil {
			return
		}
		again, err := ParseRule(r.String())
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", line, r.String(), err)
		}
		if again.String() != r.String() {
			t.Fatalf("round trip: %q became %q", r.String(), again.String())
		}
		acl, err := NewACL([]Rule{r})
		if err != nil {
			t.Fatalf("parsed rule refused by NewACL: %v", err)
		}
		for _, a := range []Action{ActionPublish, ActionSubscribe} {
			_ = acl.Authorize(context.Background(), id, a, name)
		}
	})
}
