package rule_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// BenchmarkPublishWithRules measures (*broker.Server).Publish of a door-lock
// state with 0, 10 and 100 rules loaded (one of them the low-battery rule,
// the others on other topics), the runner receiving every event. Published
// events are evaluated inline, on the publishing goroutine, so the time
// per op includes the rules; "evaluated/op" reports the share of events
// the low-battery rule saw (1: none is dropped).
func BenchmarkPublishWithRules(b *testing.B) {
	payload := readState(b)
	for _, n := range []int{0, 10, 100} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			s, _ := testutil.StartBroker(b, func(o *broker.Options) { o.Logger = testutil.Logger(b) })
			r := rule.NewRunner(rule.Options{Publisher: s, Logger: testutil.Logger(b)})
			for i := range n {
				sql := fmt.Sprintf(`SELECT clientid, payload.battery AS battery FROM "site%d/+/state" WHERE payload.battery < 20`, i)
				if i == 0 {
					sql = `SELECT clientid, payload.battery AS battery FROM "devices/+/state" WHERE payload.battery < 20`
				}
				if err := r.AddConfigRule(rule.Rule{ID: fmt.Sprintf("r%d", i), SQL: sql, Enabled: true}); err != nil {
					b.Fatal(err)
				}
			}
			if err := r.Start(); err != nil {
				b.Fatal(err)
			}
			remove := s.AddEventHandler(r)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				m := &msg.Message{Topic: "devices/10083618796833171/state", Payload: payload, QoS: 1,
					ClientID: "10083618796833171", Origin: msg.Origin{Kind: msg.OriginClient}}
				if _, err := s.Publish(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			remove()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_ = r.Close(cctx)
			if n > 0 {
				m, _ := r.Metrics("r0")
				b.ReportMetric(float64(m.Matched)/float64(b.N), "evaluated/op")
			}
		})
	}
}

func readState(b *testing.B) []byte {
	b.Helper()
	return testutil.Scenario(b, "doorlock/state.json")
}
