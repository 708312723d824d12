package broker

import (
	"testing"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// BenchmarkReadCheck measures what the per-message read check adds to one
// delivery on the routing path (mergeDelivery, and the session's cached
// decision when the filter needs a check): no authorizer; an ACL whose
// deny rule does not overlap the filter (ReadAll); one whose deny rule
// overlaps it (ReadSome, decision cached per topic).
func BenchmarkReadCheck(b *testing.B) {
	for _, tc := range []struct{ name, rule string }{
		{"acl=none", ""},
		{"acl=deny_elsewhere", "deny subscribe other/#"},
		{"acl=deny_overlapping", "deny subscribe bench/secret/state"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			o := Defaults()
			o.SysInterval, o.ParkIdleAfter, o.ExpirySweepInterval = 0, 0, 0
			if tc.rule != "" {
				rules, err := auth.ParseRules(tc.rule)
				if err != nil {
					b.Fatal(err)
				}
				acl, err := auth.NewACL(rules)
				if err != nil {
					b.Fatal(err)
				}
				o.Authorizer = &auth.AuthzChain{Authorizers: []auth.Authorizer{auth.IdentityRules{}, acl}, Default: auth.Allow}
			}
			s, err := New(o)
			if err != nil {
				b.Fatal(err)
			}
			ss := newSession(s, "sub")
			ss.ident.Store(&auth.Identity{ClientID: "sub"})
			sub := &subscription{sess: ss, filter: "bench/+/state"}
			subs := []topic.Entry[*subscription]{{Key: "sub", Value: sub}}
			m := &msg.Message{Topic: "bench/lock-1/state", QoS: 1}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				d, _ := mergeDelivery(m, subs, s.readHooks())
				if d.checkRead {
					ss.mu.Lock()
					if !ss.mayReadLocked(m.Topic) {
						b.Fatal("denied")
					}
					ss.mu.Unlock()
				}
			}
		})
	}
}
