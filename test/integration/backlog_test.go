package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// backlogMessages is how many messages TestBacklog_offlineBacklogOnDiskSurvivesKills
// publishes (IOTHUB_TEST_BACKLOG_MSGS overrides it; docs/benchmarks.md has
// the run with a million).
func backlogMessages(t *testing.T) int {
	if v := os.Getenv("IOTHUB_TEST_BACKLOG_MSGS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		return n
	}
	return 100_000
}

// backlogPayload is message i's content, 1 KB, checked byte for byte on
// delivery (JSON with trailing white space).
func backlogPayload(i int) string {
	p := crashPayload(i)
	return p + strings.Repeat(" ", 1000-len(p))
}

// backlogEnv keeps the default queue limits (max_queued_messages 1000)
// and lets the publisher keep 1,000 messages in flight (Receive Maximum).
var backlogEnv = []string{"IOTHUB_MQTT_MAX_INFLIGHT=1000"}

// pahoReceiver is a paho.golang subscriber resuming a persistent session;
// it records the index of every message it gets, in arrival order.
type pahoReceiver struct {
	mu     sync.Mutex
	got    []int
	marker chan struct{}
	onMsg  func(n int) // called with the count so far, outside mu
	client *paho.Client
}

func resumeWithPaho(t *testing.T, h *hub, clientID string, onMsg func(n int)) *pahoReceiver {
	t.Helper()
	nc, err := net.DialTimeout("tcp", h.mqtt, 5*time.Second)
	require.NoError(t, err)
	r := &pahoReceiver{marker: make(chan struct{}), onMsg: onMsg}
	var once sync.Once
	r.client = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			if string(pr.Packet.Payload) == "marker" {
				once.Do(func() { close(r.marker) })
				return true, nil
			}
			var i int
			_, err := fmt.Sscanf(string(pr.Packet.Payload), `{"n":%d,`, &i)
			if err != nil || backlogPayload(i) != string(pr.Packet.Payload) {
				i = -1 // content damaged: fails the test below
			}
			r.mu.Lock()
			r.got = append(r.got, i)
			n := len(r.got)
			r.mu.Unlock()
			if r.onMsg != nil {
				r.onMsg(n)
			}
			return true, nil
		}},
		OnClientError: func(error) {},
	})
	expiry := uint32(3600)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ca, err := r.client.Connect(ctx, &paho.Connect{ClientID: clientID, KeepAlive: 60, CleanStart: false,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	require.NoError(t, err)
	require.True(t, ca.SessionPresent, "the session survived")
	t.Cleanup(func() { _ = nc.Close() })
	return r
}

func (r *pahoReceiver) indexes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.got...)
}

// requireAscending checks that idx holds intact messages in publish order.
func requireAscending(t *testing.T, idx []int, what string) {
	t.Helper()
	for k, i := range idx {
		require.GreaterOrEqual(t, i, 0, "%s: message %d damaged", what, k)
		if k > 0 {
			require.Greater(t, i, idx[k-1], "%s: message %d (index %d) after index %d: out of order or twice", what, k, i, idx[k-1])
		}
	}
}

// publishManyUntilKilled is publishUntilKilled for QoS 1 and any number
// of messages (packet ids are reused once acknowledged).
func publishManyUntilKilled(t *testing.T, h *hub, topic string, n, window, killAt int) map[int]bool {
	t.Helper()
	pub, _ := dialMQTT(t, h.mqtt, "backlog-pub", true, 0)
	acked := map[int]bool{}
	var mu sync.Mutex
	inflight := map[uint16]int{} // packet id → message index
	slots := make(chan struct{}, window)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			p, err := pub.read(60 * time.Second)
			if err != nil {
				return // the hub was killed
			}
			a, ok := p.(*packet.Ack)
			if !ok || a.PacketType != packet.TypePuback {
				continue
			}
			mu.Lock()
			acked[inflight[a.PacketID]] = true
			delete(inflight, a.PacketID)
			count := len(acked)
			mu.Unlock()
			if count == killAt {
				_ = h.cmd.Process.Signal(syscall.SIGKILL)
			}
			<-slots
		}
	}()
	for i := range n {
		select {
		case slots <- struct{}{}:
		case <-readerDone:
		}
		pid := uint16(i%65535 + 1) //nolint:gosec // 1..65535; the window keeps reused ids acknowledged
		mu.Lock()
		inflight[pid] = i
		mu.Unlock()
		if err := pub.send(&packet.Publish{Topic: topic, QoS: 1, PacketID: pid, Payload: []byte(backlogPayload(i))}); err != nil {
			break
		}
	}
	select {
	case <-h.exited:
	case <-time.After(120 * time.Second):
		t.Fatal("the hub was not killed: fewer acknowledgements than expected")
	}
	<-readerDone
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(acked), killAt)
	return acked
}

// TestBacklog_offlineBacklogOnDiskSurvivesKills: an offline persistent
// subscriber with the default queue limits (max_queued_messages 1000) gets a
// backlog of 100,000 QoS 1 messages; the hub is killed (SIGKILL) while a
// publisher has 1,000 of them in flight, and restarts without loading the
// backlog into memory (its heap grows by less than the backlog would
// take); a paho subscriber resumes, the hub is killed again in the middle
// of the delivery, restarts, and the subscriber gets the rest: every
// acknowledged message arrives, intact and in order, and only the ones
// in flight at the second kill (sent, or acknowledged with the delete not
// yet committed: permitted QoS 1 duplicates) come twice.
func TestBacklog_offlineBacklogOnDiskSurvivesKills(t *testing.T) {
	t.Parallel()
	n := backlogMessages(t)
	dir := t.TempDir()
	h := startHubIn(t, dir, backlogEnv)
	topic := "devices/lock-backlog/command"
	sub, _ := dialMQTT(t, h.mqtt, "lock-backlog", true, 3600)
	require.NoError(t, sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: topic, QoS: 1}}}))
	p, err := sub.read(10 * time.Second)
	require.NoError(t, err)
	require.Equal(t, packet.TypeSuback, p.Type())
	require.NoError(t, sub.send(&packet.Disconnect{}))

	heap0 := metric(t, h, "go_memstats_heap_alloc_bytes")
	start := time.Now()
	acked := publishManyUntilKilled(t, h, topic, n, 1000, n*3/4)
	t.Logf("%d messages acknowledged in %v before SIGKILL", len(acked), time.Since(start))

	start = time.Now()
	h2 := startHubIn(t, dir, backlogEnv)
	t.Logf("restarted in %v", time.Since(start))
	onDisk := metric(t, h2, "iothub_queued_on_disk_messages")
	require.GreaterOrEqual(t, int(onDisk), len(acked), "the backlog is on disk")
	heap := metric(t, h2, "go_memstats_heap_alloc_bytes")
	// In memory, each queued message held at least its topic, payload and
	// a message struct (~300 bytes more): the heap grew by far less.
	inMemory := float64(len(acked)) * float64(len(topic)+len(backlogPayload(n))+300)
	t.Logf("heap of a fresh hub %.1f MiB; after recovery: %v messages on disk, heap %.1f MiB (the backlog in memory: >= %.1f MiB more)",
		heap0/(1<<20), onDisk, heap/(1<<20), inMemory/(1<<20))
	require.Less(t, heap-heap0, inMemory/2, "recovery does not load the backlog")

	killAt := len(acked) / 2
	first := resumeWithPaho(t, h2, "lock-backlog", func(k int) {
		if k == killAt {
			_ = h2.cmd.Process.Signal(syscall.SIGKILL)
		}
	})
	select {
	case <-h2.exited:
	case <-time.After(120 * time.Second):
		t.Fatalf("the subscriber got %d of %d messages, then nothing", len(first.indexes()), killAt)
	}
	before := first.indexes()
	requireAscending(t, before, "before the second kill")

	h3 := startHubIn(t, dir, backlogEnv)
	start = time.Now()
	second := resumeWithPaho(t, h3, "lock-backlog", nil)
	marker, _ := dialMQTT(t, h3.mqtt, "backlog-marker", true, 0)
	require.NoError(t, marker.send(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Payload: []byte("marker")}))
	select {
	case <-second.marker:
	case <-time.After(120 * time.Second):
		t.Fatalf("after the restart the subscriber got %d messages, then nothing", len(second.indexes()))
	}
	after := second.indexes()
	t.Logf("%d delivered before the second kill, %d after the restart (%v, %.0f msg/s)", len(before), len(after),
		time.Since(start), float64(len(after))/time.Since(start).Seconds())
	requireAscending(t, after, "after the restart")

	seen := map[int]int{}
	for _, i := range before {
		seen[i]++
	}
	for _, i := range after {
		seen[i]++
	}
	for i := range acked {
		require.NotZero(t, seen[i], "acknowledged message %d delivered", i)
	}
	if len(before) > 0 && len(after) > 0 {
		require.LessOrEqual(t, after[0], before[len(before)-1]+1, "no gap between the deliveries")
	}
	twice := 0
	for i, k := range seen {
		require.LessOrEqual(t, k, 2, "message %d delivered %d times", i, k)
		if k == 2 {
			twice++
		}
	}
	t.Logf("%d messages delivered twice (in flight at the kill)", twice)
	require.Zero(t, metric(t, h3, "iothub_queued_on_disk_messages"), "the backlog is drained")
}
