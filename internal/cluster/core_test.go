package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"
)

// TestCore runs the datadriven scripts of testdata/: each command feeds the
// Core and prints what it returned.
//
//	heartbeat node=b inc=1 seq=0
//	interest node=b inc=1 seq=1 add=a/+ | remove=a/+
//	snapshot node=b inc=1 seq=2 filters=a/#,$share/g/x
//	leave node=b
//	adopted node=b lost=c
//	tick advance=7s
//	stalled advance=10s (the driver did not run: the clock moves, no one is gone)
//	targets topic=a/b
//	seen origin=b seq=3
//	back node=b inc=1 (b, lost in incarnation 1, is live again in it)
//	majority (this node sees most of the nodes it knows)
//	peers
func TestCore(t *testing.T) {
	datadriven.Walk(t, "testdata/core", func(t *testing.T, path string) {
		c := NewCore("a", 6*time.Second)
		now := time.Unix(1000, 0)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			args := map[string]string{}
			for _, a := range d.CmdArgs {
				args[a.Key] = strings.Join(a.Vals, ",")
			}
			num := func(k string) uint64 {
				n, err := strconv.ParseUint(args[k], 10, 64)
				if args[k] != "" {
					require.NoError(t, err)
				}
				return n
			}
			ev := Event{Node: args["node"], Incarnation: num("inc"), Seq: num("seq")}
			switch d.Cmd {
			case "heartbeat":
				ev.Kind = EventHeartbeat
				return printActions(c.Step(now, ev))
			case "interest":
				ev.Kind, ev.Filter, ev.Add = EventInterest, args["add"], true
				if f, ok := args["remove"]; ok {
					ev.Filter, ev.Add = f, false
				}
				return printActions(c.Step(now, ev))
			case "snapshot":
				ev.Kind = EventSnapshot
				if args["filters"] != "" {
					ev.Filters = strings.Split(args["filters"], ",")
				}
				return printActions(c.Step(now, ev))
			case "leave":
				ev.Kind = EventLeave
				return printActions(c.Step(now, ev))
			case "adopted":
				ev.Kind, ev.Lost = EventAdopted, args["lost"]
				return printActions(c.Step(now, ev))
			case "stalled":
				dur, err := time.ParseDuration(args["advance"])
				require.NoError(t, err)
				now = now.Add(dur)
				c.Stalled(dur)
				return "ok"
			case "tick":
				dur, err := time.ParseDuration(args["advance"])
				require.NoError(t, err)
				now = now.Add(dur)
				return printActions(c.Tick(now))
			case "targets":
				tg := c.Targets(args["topic"])
				var b strings.Builder
				fmt.Fprintf(&b, "nodes: %s\n", strings.Join(tg.Nodes, " "))
				if len(tg.Lost) > 0 {
					fmt.Fprintf(&b, "lost: %s\n", strings.Join(tg.Lost, " "))
				}
				for _, g := range tg.Groups {
					fmt.Fprintf(&b, "group %s: %s\n", g.Filter, strings.Join(g.Nodes, " "))
				}
				return b.String()
			case "majority":
				return fmt.Sprintf("%v\n", c.Majority())
			case "back":
				return fmt.Sprintf("%v\n", c.Back(args["node"], num("inc")))
			case "seen":
				return fmt.Sprintf("%v\n", c.Seen(args["origin"], num("inc"), num("seq")))
			case "peers":
				var b strings.Builder
				for _, p := range c.Peers() {
					fmt.Fprintf(&b, "%s routes=%d\n", p, c.RouteCount(p))
				}
				for _, l := range c.Lost() {
					fmt.Fprintf(&b, "%s lost\n", l)
				}
				return b.String()
			}
			t.Fatalf("unknown command %s", d.Cmd)
			return ""
		})
	})
}

func printActions(acts []Action) string {
	if len(acts) == 0 {
		return "ok\n"
	}
	names := map[ActionKind]string{ActionRequestSnapshot: "request-snapshot", ActionNodeUp: "node-up", ActionNodeDown: "node-down", ActionRelease: "release"}
	var b strings.Builder
	for _, a := range acts {
		healed := ""
		if a.Healed {
			healed = " (healed)"
		}
		fmt.Fprintf(&b, "%s %s%s\n", names[a.Kind], a.Node, healed)
	}
	return b.String()
}

func TestWindow_seen(t *testing.T) {
	var w window
	require.False(t, w.seen(1))
	require.True(t, w.seen(1))
	require.False(t, w.seen(3))
	require.False(t, w.seen(2), "a late message inside the window is new")
	require.True(t, w.seen(2))
	require.False(t, w.seen(3+windowSize))
	require.True(t, w.seen(3), "older than the window counts as seen")
	require.False(t, w.seen(4+windowSize))
	require.False(t, w.seen(5+2*windowSize), "a jump past the window forgets it")
	require.False(t, w.seen(6+windowSize*2))
}
