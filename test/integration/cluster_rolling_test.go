package integration

import (
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// TestClusterRollingRestart restarts the three nodes of a cluster one
// after the other (SIGTERM, start again on the same data directory, wait
// until the cluster is whole again) while publishers send a steady QoS 1
// load through HAProxy (reconnecting through it when their node stops).
// Each node holds persistent sessions subscribed to the load: one offline
// with a queue, one connected that acknowledges everything; neither
// reconnects during the restarts, so each is adopted by another node when
// its node stops, and again when that node stops. At the end every
// session resumes through HAProxy: every message a publisher got a PUBACK
// for reached every session (duplicates counted, not failed).
//
// A failure is a lost message, not a timing problem: before restarted nodes
// waited for the adoption of their previous life's sessions (and closed
// their stale copies) before serving, about one run in three lost one or
// two (docs/cluster.md).
func TestClusterRollingRestart(t *testing.T) {
	t.Parallel()
	tc := startTestCluster(t, 3)

	type session struct {
		id  string
		got <-chan string // what the connected one received before its node stopped
	}
	var sessions []session
	watch := make(chan mqtt.Message, 1000)
	watcher := pahoClient(t, tc.nodes[0].mqtt, "roll-watch", true, watch)
	pahoSubscribe(t, watcher, "roll/#", 1)
	for _, h := range tc.nodes {
		queued := pahoClient(t, h.mqtt, "roll-queued-"+h.name, false, nil)
		pahoSubscribe(t, queued, "roll/#", 1)
		queued.Disconnect(100)
		sessions = append(sessions, session{id: "roll-queued-" + h.name})

		got := make(chan mqtt.Message, 20000)
		live := pahoClient(t, h.mqtt, "roll-live-"+h.name, false, got)
		pahoSubscribe(t, live, "roll/#", 1)
		sessions = append(sessions, session{id: "roll-live-" + h.name, got: mqttPayloads(got)})
		// Every node's interest is known on n1 before the load starts.
		testutil.WaitRoute(t, pahoClient(t, h.mqtt, "roll-probe-"+h.name, true, nil), "roll/probe", watch)
	}
	watcher.Disconnect(0)

	load := startAckedLoad(t, tc.lb, []string{tc.lb, tc.lb, tc.lb}, "roll-pub-", "roll/")
	load.progress(t, 60, "before the restarts")
	for _, h := range tc.nodes {
		h.stop(t)
		runClusterHub(t, h)
		tc.waitFormed(t)
		load.progress(t, 60, "after restarting "+h.name)
	}
	load.halt()
	if t.Failed() {
		return
	}

	total := load.total()
	dups := 0
	for _, ss := range sessions {
		got := resumeThrough(t, tc.lb, ss.id)
		if ss.got != nil {
			got = merge(ss.got, got)
		}
		dups += expectAcked(t, ss.id, got, &load.acked, total)
	}
	t.Logf("rolling restart of 3 nodes: %d messages acknowledged, %d publisher reconnects, %d duplicates at the %d sessions",
		total, load.reconnects.Load(), dups, len(sessions))
}

// merge reads a and b into one channel.
func merge(a, b <-chan string) <-chan string {
	out := make(chan string, cap(a)+cap(b))
	for _, in := range []<-chan string{a, b} {
		go func() {
			for p := range in {
				out <- p
			}
		}()
	}
	return out
}
