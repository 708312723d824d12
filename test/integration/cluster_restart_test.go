package integration

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

	var acked sync.Map
	var sent, reconnects atomic.Int64
	stop := make(chan struct{})
	var stopOnce sync.Once
	var wg sync.WaitGroup
	halt := func() {
		stopOnce.Do(func() { close(stop) })
		wg.Wait()
	}
	t.Cleanup(halt)
	giveUp := time.Now().Add(150 * time.Second)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := pahoClient(t, n1.mqtt, "quick-pub", true, nil)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			payload := "quick-" + strconv.Itoa(i)
			if !publishUntilAcked(t, &c, tc.lb, "quick-pub", "quick/x", payload, 20*time.Second, giveUp, &reconnects, stop) {
				return
			}
			acked.Store(payload, true)
			sent.Add(1)
		}
	}()
	progress := func(n int64, what string) {
		t.Helper()
		target := sent.Load() + n
		deadline := time.Now().Add(90 * time.Second)
		for sent.Load() < target {
			if time.Now().After(deadline) {
				t.Fatalf("no %d acknowledged messages %s within 90s", n, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	progress(30, "before the kill")
	logf(t, "killing n3")
	if err := n3.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-n3.exited
	runClusterHub(t, n3)
	tc.waitFormed(t)
	logf(t, "n3 restarted")
	progress(30, "after the restart")
	halt()
	if t.Failed() {
		return
	}

	total := 0
	acked.Range(func(_, _ any) bool { total++; return true })
	dups := expectAcked(t, "quick-queued", resumeThrough(t, tc.lb, "quick-queued"), &acked, total)
	t.Logf("quick restart: %d messages acknowledged, %d publisher reconnects, %d duplicates", total, reconnects.Load(), dups)
}
