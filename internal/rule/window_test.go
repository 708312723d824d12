package rule

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/msg"
)

// TestWindows runs testdata/windows/*.txt against an Engine whose clock
// the script moves. Commands:
//
//	clock t=RFC3339       — set the clock
//	advance d=DURATION    — move the clock forward
//	rule id=ID [max_state=N] — input: a statement; adds the rule (a new engine with max_state)
//	publish [clientid=…] [topic=…] — input: payload; the outputs, one "rule: json" line each
//	tick                  — close the windows due at the clock; their outputs
//	metrics id=ID         — the rule's window outputs, passed, no_result and dropped counters
func TestWindows(t *testing.T) {
	datadriven.Walk(t, "testdata/windows", func(t *testing.T, path string) {
		now := time.Date(2024, 4, 17, 4, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		e := NewEngine(EngineOptions{Now: clock})
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "clock":
				var s string
				d.ScanArgs(t, "t", &s)
				at, err := time.Parse(time.RFC3339Nano, s)
				require.NoError(t, err)
				now = at
				return ""
			case "advance":
				var s string
				d.ScanArgs(t, "d", &s)
				dur, err := time.ParseDuration(s)
				require.NoError(t, err)
				now = now.Add(dur)
				return now.Format(time.RFC3339Nano) + "\n"
			case "rule":
				var id string
				d.ScanArgs(t, "id", &id)
				if d.HasArg("max_state") {
					var n int
					d.ScanArgs(t, "max_state", &n)
					e = NewEngine(EngineOptions{Now: clock, MaxState: n})
				}
				if err := e.Add(Rule{ID: id, SQL: d.Input, Enabled: true}); err != nil {
					return "error: " + err.Error() + "\n"
				}
				return "ok\n"
			case "publish":
				ev := &msg.Event{Kind: msg.EventMessagePublished, Time: now, Node: "edge-1"}
				m := &msg.Message{Topic: "t", Payload: []byte(strings.TrimSuffix(d.Input, "\n")), ReceivedAt: now}
				for _, a := range d.CmdArgs {
					switch a.Key {
					case "clientid":
						ev.ClientID, m.ClientID = a.Vals[0], a.Vals[0]
					case "topic":
						m.Topic = a.Vals[0]
					}
				}
				ev.Message = m
				return formatWindowOutputs(t, e.Eval(ev))
			case "tick":
				return formatWindowOutputs(t, e.Tick(nil, now))
			case "metrics":
				var id string
				d.ScanArgs(t, "id", &id)
				m, err := e.Metrics(id)
				require.NoError(t, err)
				return fmt.Sprintf("matched=%d passed=%d no_result=%d failed=%d window_outputs=%d dropped=%d\n",
					m.Matched, m.Passed, m.NoResult, m.Failed, m.WindowOutputs, m.Dropped)
			}
			t.Fatalf("unknown command %q", d.Cmd)
			return ""
		})
	})
}

func formatWindowOutputs(t *testing.T, outs []Output) string {
	if len(outs) == 0 {
		return "(no output)\n"
	}
	var b strings.Builder
	for _, o := range outs {
		j, err := json.Marshal(o)
		require.NoError(t, err)
		fmt.Fprintf(&b, "%s: %s\n", o.RuleID, j)
	}
	return b.String()
}
