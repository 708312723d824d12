package rule

import (
	"strconv"
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

// BenchmarkEvalWindow measures a vehicle's telemetry entering the
// per-minute average of the vehicles scenario (1,000 vehicles in turn),
// and the closing of the 1,000 windows, per window.
func BenchmarkEvalWindow(b *testing.B) {
	payload := testutil.Scenario(b, "vehicles/telemetry.json")
	e := NewEngine(EngineOptions{Now: func() time.Time { return fixedNow }})
	if err := e.Add(Rule{ID: "speed_1m", Enabled: true, SQL: `SELECT clientid, avg(payload.speed) AS avg_speed,
		max(payload.speed) AS max_speed, count(*) AS samples FROM "mqttx/simulate/tesla/+"
		GROUP BY clientid, TUMBLINGWINDOW(mi, 1)`}); err != nil {
		b.Fatal(err)
	}
	evs := make([]*msg.Event, 1000)
	for i := range evs {
		id := "vehicle-" + strconv.Itoa(i)
		m := &msg.Message{ID: 1, Topic: "mqttx/simulate/tesla/" + id, Payload: payload, ClientID: id, ReceivedAt: fixedNow}
		evs[i] = &msg.Event{Kind: msg.EventMessagePublished, Time: fixedNow, ClientID: id, Message: m}
	}
	b.Run("event", func(b *testing.B) {
		var outs []Output
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			outs = e.AppendEval(outs[:0], evs[i%len(evs)])
			i++
		}
	})
	b.Run("close_1000", func(b *testing.B) {
		var outs []Output
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			for _, ev := range evs {
				e.AppendEval(nil, ev)
			}
			b.StartTimer()
			outs = e.Tick(outs[:0], fixedNow.Add(time.Minute))
		}
		if len(outs) != len(evs) {
			b.Fatalf("%d outputs, want %d", len(outs), len(evs))
		}
	})
}
