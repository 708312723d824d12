package rule

import (
	"testing"
	"time"

	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// BenchmarkEval measures the door-lock rule on the sample state: the
// payload is decoded once per event; "pass" republishes (battery < 90),
// "no_result" does not (battery < 20), "no_match" is another topic.
func BenchmarkEval(b *testing.B) {
	payload := testutil.Scenario(b, "doorlock/state.json")
	for _, bc := range []struct {
		name, where, topic string
	}{
		{"pass", "payload.battery < 90", "devices/10083618796833171/state"},
		{"no_result", "payload.battery < 20", "devices/10083618796833171/state"},
		{"no_match", "payload.battery < 20", "devices/10083618796833171/command"},
	} {
		b.Run("doorlock/"+bc.name, func(b *testing.B) {
			e := NewEngine(EngineOptions{Now: func() time.Time { return fixedNow }})
			if err := e.Add(Rule{ID: "r", Enabled: true,
				SQL: `SELECT clientid, payload.battery AS battery FROM "devices/+/state" WHERE ` + bc.where}); err != nil {
				b.Fatal(err)
			}
			m := &msg.Message{ID: 1, Topic: bc.topic, Payload: payload, QoS: 1, ClientID: "10083618796833171",
				ReceivedAt: fixedNow}
			ev := &msg.Event{Kind: msg.EventMessagePublished, Time: fixedNow, ClientID: m.ClientID, Message: m, QoS: 1}
			var outs []Output
			b.ReportAllocs()
			for b.Loop() {
				outs = e.AppendEval(outs[:0], ev)
			}
		})
	}
}

// BenchmarkTemplate measures rendering the alarm topic.
func BenchmarkTemplate(b *testing.B) {
	tpl, err := ParseTemplate("alarms/${clientid}")
	if err != nil {
		b.Fatal(err)
	}
	o := Output{Fields: []Field{{Name: "clientid", Value: String("10083618796833171")}}}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = tpl.Append(buf[:0], &o)
	}
}
