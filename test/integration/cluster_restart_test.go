package integration

import (
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// TestClusterQuickRestart: a node killed (-9) and started again on the
// same data directory quicker than cluster.node_timeout (here 20 s), so
// that the others never saw it silent for long enough, while a publisher
// on another node sends a steady QoS 1 load to an offline persistent
// session the killed node held. The others take the new life for a loss of
// the old one: they hold its routes, adopt its sessions, and send what
// they held to the adopter; the restarted node closes its stale copy. The
// session resumes through HAProxy with every PUBACKed message. Before, the
// new life only replaced the old one's routes: messages forwarded to the
// dead node were then acknowledged without reaching any copy of the
// session, and the restarted node waited 20 node timeouts for an adoption
// that never came before it served.
func TestClusterQuickRestart(t *testing.T) {
	t.Parallel()
	tc := startTestClusterWith(t, 3, "", "IOTHUB_CLUSTER_NODE_TIMEOUT=20s")
	n1, n3 := tc.nodes[0], tc.nodes[2]

	queued := pahoClient(t, n3.mqtt, "quick-queued", false, nil)
	pahoSubscribe(t, queued, "quick/#", 1)
	watch := make(chan mqtt.Message, 100)
	watcher := pahoClient(t, n3.mqtt, "quick-watch", true, watch)
	pahoSubscribe(t, watcher, "quick/#", 1)
	testutil.WaitRoute(t, pahoClient(t, n1.mqtt, "quick-probe", true, nil), "quick/probe", watch)
	watcher.Disconnect(0)
	queued.Disconnect(100)

	load := startAckedLoad(t, tc.lb, []string{n1.mqtt}, "quick-pub-", "quick/")
	load.progress(t, 30, "before the kill")
	logf(t, "killing n3")
	if err := n3.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-n3.exited
	runClusterHub(t, n3)
	tc.waitFormed(t)
	logf(t, "n3 restarted")
	load.progress(t, 30, "after the restart")
	load.halt()
	if t.Failed() {
		return
	}

	total := load.total()
	dups := expectAcked(t, "quick-queued", resumeThrough(t, tc.lb, "quick-queued"), &load.acked, total)
	t.Logf("quick restart: %d messages acknowledged, %d publisher reconnects, %d duplicates", total, load.reconnects.Load(), dups)
}
