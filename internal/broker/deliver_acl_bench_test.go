package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// BenchmarkPublishDeliverACL is BenchmarkPublishDeliver with an ACL (default
// allow) whose one deny rule is elsewhere (the subscriptions' filter is
// wholly readable: no per-message check) or overlaps the subscriptions'
// filter "bench/+/state" (each delivery is checked against the
// subscriber's read access, cached per topic).
func BenchmarkPublishDeliverACL(b *testing.B) {
	for _, acl := range []struct{ name, rule string }{
		{"deny_elsewhere", "deny subscribe other/#"},
		{"deny_overlapping", "deny subscribe bench/secret/state"},
	} {
		for _, n := range []int{1, 1000} {
			b.Run(fmt.Sprintf("acl=%s/subscribers=%d", acl.name, n), func(b *testing.B) {
				rules, err := auth.ParseRules(acl.rule)
				if err != nil {
					b.Fatal(err)
				}
				a, err := auth.NewACL(rules)
				if err != nil {
					b.Fatal(err)
				}
				s, addr := testutil.StartBroker(b, func(o *broker.Options) {
					o.MaxPendingWrites = 1 << 20
					o.Authorizer = &auth.AuthzChain{Authorizers: []auth.Authorizer{auth.IdentityRules{}, a}, Default: auth.Allow}
				})
				benchDeliver(b, s, addr, n)
			})
		}
	}
}

// benchDeliver publishes b.N QoS 0 messages to n raw subscribers of
// bench/+/state and waits until each got them all.
func benchDeliver(b *testing.B, s *broker.Server, addr string, n int) {
	subs := make([]*rawSubscriber, n)
	for i := range subs {
		subs[i] = newRawSubscriber(b, addr, fmt.Sprintf("bench-sub-%d", i), "bench/+/state")
	}
	payload := []byte(`{"process_id":"7802441525528958","action":"unlock","battery":83.4,"lock_state":1,"version":1.1}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := &msg.Message{Topic: "bench/lock-1/state", Payload: payload}
		if _, err := s.Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for _, rs := range subs {
		for rs.got.Load() < int64(b.N) {
			if time.Now().After(deadline) {
				b.Fatalf("subscriber got %d of %d (drops: %v)", rs.got.Load(), b.N, s.Stats().Dropped)
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
}
