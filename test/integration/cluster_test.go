package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/stretchr/testify/require"
)

// clusterKey is the bootstrap API key of the cluster tests' nodes.
const clusterKey = "ihk_cluster_test_key_0123456789abcdef"

// clusterHub is one node of a test cluster: a hub whose second TCP
// listener (lb) expects the PROXY protocol from HAProxy.
type clusterHub struct {
	*hub
	name  string
	lb    string // the PROXY-protocol listener HAProxy sends to
	dir   string // config file and data directory (kept across restarts)
	addr  string // cluster address
	seeds []string
	env   []string // extra environment (later entries override the defaults)
}

// testCluster is three nodes of the built binary on loopback behind one
// HAProxy (TCP mode, PROXY protocol v2 to the hubs).
type testCluster struct {
	nodes []*clusterHub
	lb    string // HAProxy's MQTT address: the cluster's one address
}

// startTestCluster starts n nodes that list each other as seeds, and
// HAProxy in front of them, and waits until the replicated state is ready
// on every node.
func startTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	return startTestClusterWith(t, n, "")
}

// startTestClusterWith is startTestCluster with extra configuration (YAML
// after the listeners) and environment variables for every node.
func startTestClusterWith(t *testing.T, n int, extra string, env ...string) *testCluster {
	t.Helper()
	seeds := make([]string, n)
	for i := range seeds {
		seeds[i] = freePort(t)
	}
	tc := &testCluster{lb: freePort(t)}
	var wg sync.WaitGroup
	tc.nodes = make([]*clusterHub, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc.nodes[i] = startClusterHub(t, "n"+strconv.Itoa(i+1), seeds[i], seeds, extra, env)
		}()
	}
	wg.Wait()
	for _, h := range tc.nodes {
		require.NotNil(t, h, "a node did not start")
	}
	tc.startHAProxy(t)
	tc.waitFormed(t)
	return tc
}

// waitFormed waits until every node's /api/v1/cluster shows every node up,
// JetStream healthy and the replicated state ready.
func (tc *testCluster) waitFormed(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for _, h := range tc.nodes {
		for {
			code, body := apiCall(t, h.hub, http.MethodGet, "/api/v1/cluster", clusterKey, "")
			if code == http.StatusOK && strings.Count(body, `"state":"up"`) == len(tc.nodes) && strings.Contains(body, `"healthy":true`) &&
				strings.Contains(body, `"state_ready":true`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: cluster not formed within 90s: %d %s", h.name, code, body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func startClusterHub(t *testing.T, name, addr string, seeds []string, extra string, env []string) *clusterHub {
	dir := t.TempDir()
	lb := freePort(t)
	cfg := filepath.Join(dir, "iothub.yaml")
	yaml := fmt.Sprintf("listeners:\n  tcp:\n    - name: tcp\n      address: 127.0.0.1:0\n    - name: lb\n      address: %s\n      proxy_protocol: true\n", lb) + extra
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Error(err)
		return nil
	}
	return runClusterHub(t, &clusterHub{name: name, lb: lb, dir: dir, addr: addr, seeds: seeds, env: env})
}

// runClusterHub starts the hub of node c (first start or restart: same
// config, data directory and cluster address).
func runClusterHub(t *testing.T, c *clusterHub) *clusterHub {
	// Sessions queue every message of a test's load (no queue-full drops).
	env := []string{"IOTHUB_API_KEY=" + clusterKey, "IOTHUB_CLUSTER_NODE_TIMEOUT=3s", "IOTHUB_CLUSTER_FORWARD_TIMEOUT=1s",
		"IOTHUB_MQTT_MAX_QUEUED_MESSAGES=100000"}
	env = append(env, c.env...)
	c.hub = startHubIn(t, filepath.Join(c.dir, "data"), env, "--config", filepath.Join(c.dir, "iothub.yaml"), "--node-name", c.name,
		"--cluster-addr", c.addr, "--cluster-seeds", strings.Join(c.seeds, ","), "--log-level", "info")
	return c
}

// startHAProxy runs HAProxy in the foreground: round robin over the nodes'
// PROXY-protocol listeners, a node out of rotation within a second of
// failing its health check.
func (tc *testCluster) startHAProxy(t *testing.T) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "global\n  maxconn 4096\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5m\n  timeout server 5m\n")
	fmt.Fprintf(&b, "frontend mqtt\n  bind %s\n  default_backend hubs\nbackend hubs\n  balance roundrobin\n", tc.lb)
	for _, h := range tc.nodes {
		fmt.Fprintf(&b, "  server %s %s send-proxy-v2 check check-send-proxy inter 300ms fall 1 rise 1\n", h.name, h.lb)
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	require.NoError(t, os.WriteFile(cfg, []byte(b.String()), 0o600))
	_, exited := startService(t, "haproxy", exec.Command(haproxyPath(t), "-db", "-f", cfg))
	waitListening(t, tc.lb, exited)
}

func haproxyPath(t *testing.T) string {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy"
	}
	return tool(t, "haproxy") // fails: scripts/test-deps.sh installs it
}

// pahoClient connects a paho (3.1.1) client to addr; messages go to ch.
func pahoClient(t *testing.T, addr, id string, clean bool, ch chan<- mqtt.Message) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetKeepAlive(30 * time.Second)
	if ch != nil {
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { ch <- m })
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(15*time.Second), "connect %s", id)
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func pahoSubscribe(t *testing.T, c mqtt.Client, filter string, qos byte) {
	t.Helper()
	tok := c.Subscribe(filter, qos, nil)
	require.True(t, tok.WaitTimeout(15*time.Second))
	require.NoError(t, tok.Error())
}

// TestCluster runs the cluster scenarios on one three-node cluster behind
// HAProxy; the last one kills a node.
func TestCluster(t *testing.T) {
	t.Parallel()
	tc := startTestCluster(t, 3)
	t.Run("pubSubAcrossNodes", tc.pubSubAcrossNodes)
	t.Run("sharedSubscriptionAcrossNodes", tc.sharedAcrossNodes)
	t.Run("commandThroughAnotherNode", tc.commandThroughAnotherNode)
	t.Run("takeoverThroughLoadBalancer", tc.takeoverThroughLB)
	t.Run("roamUnderQoS1Load", tc.roamUnderLoad)
	t.Run("shadowAcrossNodes", tc.shadowAcrossNodes)
	t.Run("killNodeUnderQoS1Load", tc.killUnderLoad)
}

// pubSubAcrossNodes: mosquitto_sub on n2 gets QoS 0, 1 and 2 messages that
// mosquitto_pub sends to n1, and a paho client through HAProxy gets them too.
func (tc *testCluster) pubSubAcrossNodes(t *testing.T) {
	s := startSub(t, tc.nodes[1].hub, "-q", "2", "-t", "xnode/#", "-i", "xnode-sub")
	s.waitLine(t, "SUBACK")
	viaLB := make(chan mqtt.Message, 100)
	lbSub := pahoClient(t, tc.lb, "xnode-lb", true, viaLB)
	pahoSubscribe(t, lbSub, "xnode/#", 2)
	probe := pahoClient(t, tc.nodes[0].mqtt, "xnode-probe", true, nil)
	testutil.WaitRoute(t, probe, "xnode/probe", viaLB)
	for q := range 3 {
		pub(t, tc.nodes[0].hub, "-q", strconv.Itoa(q), "-t", "xnode/q"+strconv.Itoa(q), "-m", "hello "+strconv.Itoa(q))
		s.waitLine(t, "MSG xnode/q"+strconv.Itoa(q)+" hello "+strconv.Itoa(q))
		select {
		case m := <-viaLB:
			for string(m.Payload()) == "probe" {
				m = <-viaLB
			}
			require.Equal(t, "hello "+strconv.Itoa(q), string(m.Payload()))
		case <-time.After(15 * time.Second):
			t.Fatalf("QoS %d message not received through HAProxy", q)
		}
	}
	// Per-node cluster metrics.
	code, body := apiCall(t, tc.nodes[1].hub, http.MethodGet, "/metrics", "", "")
	require.Equal(t, http.StatusOK, code)
	require.Regexp(t, `iothub_cluster_received_messages_total [1-9]`, body)
	require.Contains(t, body, "iothub_cluster_forward_ack_seconds_bucket")
	require.Regexp(t, `iothub_cluster_nodes 3`, body)
}

// sharedAcrossNodes: members of one shared group on n2 and n3 share the
// messages published on n1: each message goes to exactly one of them.
func (tc *testCluster) sharedAcrossNodes(t *testing.T) {
	got := make(chan mqtt.Message, 500)
	var perMember [2]atomic.Int64
	for i, h := range tc.nodes[1:] {
		c := pahoClient(t, h.mqtt, "worker-"+strconv.Itoa(i), true, nil)
		tok := c.Subscribe("$share/workers/jobs/#", 1, func(_ mqtt.Client, m mqtt.Message) { perMember[i].Add(1); got <- m })
		require.True(t, tok.WaitTimeout(15*time.Second))
		require.NoError(t, tok.Error())
	}
	pubc := pahoClient(t, tc.nodes[0].mqtt, "jobs-pub", true, nil)
	testutil.WaitRoute(t, pubc, "jobs/probe", got)
	const n = 60
	for i := range n {
		tok := pubc.Publish("jobs/"+strconv.Itoa(i), 1, false, strconv.Itoa(i))
		require.True(t, tok.WaitTimeout(15*time.Second))
		require.NoError(t, tok.Error())
	}
	seen := map[string]int{}
	for len(seen) < n {
		select {
		case m := <-got:
			if string(m.Payload()) != "probe" {
				seen[string(m.Payload())]++
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("shared messages missing: got %d of %d", len(seen), n)
		}
	}
	select {
	case m := <-got:
		require.Equal(t, "probe", string(m.Payload()), "a message went to two members")
	case <-time.After(500 * time.Millisecond):
	}
	for k, c := range seen {
		require.Equal(t, 1, c, "message %s delivered %d times", k, c)
	}
}

// commandThroughAnotherNode: a door lock (MQTT 5) holds its connection on
// n3; the API of n1 sends it an unlock command with wait=acked.
func (tc *testCluster) commandThroughAnotherNode(t *testing.T) {
	lock := "lock-remote-1"
	nc, err := net.DialTimeout("tcp", tc.nodes[2].mqtt, 5*time.Second)
	require.NoError(t, err)
	cmds := make(chan *paho.Publish, 4)
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {},
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(p paho.PublishReceived) (bool, error) {
			cmds <- p.Packet
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err = c.Connect(ctx, &paho.Connect{ClientID: lock, CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	_, err = c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/" + lock + "/command", QoS: 1}}})
	require.NoError(t, err)

	body := `{"payload":{"action":"unlock","nonce_str":"u7u4p0n8"},"qos":1}`
	code, resp := apiCall(t, tc.nodes[0].hub, http.MethodPost, "/api/v1/devices/"+lock+"/commands?wait=acked&timeout=20s", clusterKey, body)
	require.Equal(t, http.StatusOK, code, resp)
	require.Contains(t, resp, `"acked"`)
	select {
	case p := <-cmds:
		require.Contains(t, string(p.Payload), "unlock")
	case <-time.After(10 * time.Second):
		t.Fatal("the device got no command")
	}
	code, resp = apiCall(t, tc.nodes[1].hub, http.MethodGet, "/api/v1/clients/"+lock, clusterKey, "")
	require.Equal(t, http.StatusOK, code, "any node finds the client: %s", resp)
	require.Contains(t, resp, `"node":"n3"`, "the client is held by n3, whichever node is asked")
	code, resp = apiCall(t, tc.nodes[0].hub, http.MethodGet, "/api/v1/clients?limit=1000", clusterKey, "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, resp, lock, "the client list spans the nodes")
	require.Contains(t, resp, `"client_id":"`+lock+`","username":"","connected":true,"node":"n3"`, "each client with its node")
	code, resp = apiCall(t, tc.nodes[1].hub, http.MethodDelete, "/api/v1/clients/"+lock, clusterKey, "")
	require.Less(t, code, 300, "kick through another node: %s", resp)
}

// takeoverThroughLB: one client id connects twice through HAProxy (round
// robin puts the connections on different nodes): the first connection
// gets 0x8E, the second finds its session.
func (tc *testCluster) takeoverThroughLB(t *testing.T) {
	gone := make(chan byte, 2)
	dial := func(onGone func(*paho.Disconnect)) (*paho.Connack, error) {
		nc, err := net.DialTimeout("tcp", tc.lb, 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = nc.Close() })
		c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {}, OnServerDisconnect: onGone})
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		expiry := uint32(600)
		return c.Connect(ctx, &paho.Connect{ClientID: "roamer", CleanStart: false, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	}
	_, err := dial(func(d *paho.Disconnect) { gone <- d.ReasonCode })
	require.NoError(t, err)
	ack, err := dial(func(*paho.Disconnect) {})
	require.NoError(t, err)
	require.True(t, ack.SessionPresent)
	select {
	case code := <-gone:
		require.Equal(t, byte(0x8E), code)
	case <-time.After(15 * time.Second):
		t.Fatal("the first connection was not taken over")
	}
}

// killUnderLoad: publishers send QoS 1 through HAProxy (so one of them is
// on n1) to persistent subscribers on n2 and n3 and to two persistent
// sessions homed on n1 (one offline with a queue, one connected that never
// acknowledges, so that messages are in flight there); n1 is killed with
// SIGKILL mid-load. Publishers whose connection died reconnect through
// HAProxy and resend what was not acknowledged; the two sessions of n1
// resume through HAProxy on another node. Every message a publisher got a
// PUBACK for reaches every subscriber; duplicates are counted, not failed.
func (tc *testCluster) killUnderLoad(t *testing.T) {
	subs := make([]chan mqtt.Message, 2)
	for i, h := range tc.nodes[1:] {
		subs[i] = make(chan mqtt.Message, 20000)
		c := pahoClient(t, h.mqtt, "load-sub-"+strconv.Itoa(i), false, subs[i])
		pahoSubscribe(t, c, "load/#", 1)
	}
	probe := pahoClient(t, tc.nodes[0].mqtt, "load-probe", true, nil)
	for _, s := range subs {
		testutil.WaitRoute(t, probe, "load/probe", s)
	}
	probe.Disconnect(0)
	home := homeSessions(t, tc.nodes[0], "load/#")
	// n1's interest is known on the other nodes before the load starts.
	watch := make(chan mqtt.Message, 100)
	watcher := pahoClient(t, tc.nodes[0].mqtt, "load-watch", true, watch)
	pahoSubscribe(t, watcher, "load/#", 1)
	for _, h := range tc.nodes[1:] {
		testutil.WaitRoute(t, pahoClient(t, h.mqtt, "probe-"+h.name, true, nil), "load/probe", watch)
	}

	load := startAckedLoad(t, tc.lb, []string{tc.lb, tc.lb, tc.lb}, "load-pub-", "load/")
	load.progress(t, 100, "before the kill")
	require.NoError(t, tc.nodes[0].cmd.Process.Signal(syscall.SIGKILL))
	load.progress(t, 200, "after the kill")
	load.halt()
	if t.Failed() {
		return
	}

	total := load.total()
	dups := 0
	for i, s := range subs {
		dups += expectAcked(t, "subscriber on "+tc.nodes[i+1].name, mqttPayloads(s), &load.acked, total)
	}
	for _, id := range home.ids {
		dups += expectAcked(t, id+" (homed on the killed node)", resumeThrough(t, tc.lb, id), &load.acked, total)
	}
	t.Logf("kill -9 under load: %d messages acknowledged, %d publisher reconnects, %d duplicates at the subscribers", total, load.reconnects.Load(), dups)
}

// shadowAcrossNodes: a lock on n1 reports its state to its shadow; n2's
// API reads the shadow, n3's API sets a desired state, and the lock on
// n1 gets the delta: the shadows are in the replicated bucket.
func (tc *testCluster) shadowAcrossNodes(t *testing.T) {
	const lock = "lock-shadow-1"
	got := make(chan mqtt.Message, 10)
	c := pahoClient(t, tc.nodes[0].mqtt, lock, true, got)
	prefix := "$aws/things/" + lock + "/shadow/"
	pahoSubscribe(t, c, prefix+"update/accepted", 1)
	pahoSubscribe(t, c, prefix+"update/delta", 1)
	tok := c.Publish(prefix+"update", 1, false, `{"state":{"reported":{"lock_state":0}}}`)
	require.True(t, tok.WaitTimeout(15*time.Second))
	require.NoError(t, tok.Error())
	select {
	case m := <-got:
		require.Equal(t, prefix+"update/accepted", m.Topic())
	case <-time.After(15 * time.Second):
		t.Fatal("the shadow update was not accepted")
	}

	code, body := apiCall(t, tc.nodes[1].hub, http.MethodGet, "/api/v1/devices/"+lock+"/shadow", clusterKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"reported":{"lock_state":0}`, "n2 reads the shadow n1 wrote")
	require.Contains(t, body, `"version":1`)

	code, body = apiCall(t, tc.nodes[2].hub, http.MethodPost, "/api/v1/devices/"+lock+"/shadow", clusterKey, `{"state":{"desired":{"lock_state":1}}}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"version":2`, "n3 wrote on top of n1's version")
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m := <-got:
			if m.Topic() != prefix+"update/delta" {
				continue
			}
			require.Contains(t, string(m.Payload()), `"lock_state":1`)
			require.Contains(t, string(m.Payload()), `"version":2`)
			return
		case <-deadline:
			t.Fatal("the lock on n1 got no delta for the desired state set through n3")
		}
	}
}

// roamUnderLoad: a persistent device subscribed on n1 moves between n1
// and n2 (live takeovers, each old connection closed by its node) every
// 50 messages while a publisher on n3 sends QoS 1 to it: every message
// the publisher got a PUBACK for reaches the device (on one of its
// connections); duplicates are counted, not failed. The old node passes
// on what reaches it after the session left (docs/cluster.md, "A live
// takeover is bounded").
func (tc *testCluster) roamUnderLoad(t *testing.T) {
	const total, every = 600, 50
	got := make(chan mqtt.Message, 4*total)
	dev := pahoClient(t, tc.nodes[0].mqtt, "rover", false, got)
	pahoSubscribe(t, dev, "roam/rover", 1)
	pubc := pahoClient(t, tc.nodes[2].mqtt, "roam-pub", true, nil)
	testutil.WaitRoute(t, pubc, "roam/rover", got)

	roam := make(chan struct{}, total/every+1)
	acked := make(chan string, total)
	pubErr := make(chan error, 1)
	go func() {
		defer close(acked)
		for i := range total {
			tok := pubc.Publish("roam/rover", 1, false, "m"+strconv.Itoa(i))
			if !tok.WaitTimeout(30 * time.Second) {
				pubErr <- fmt.Errorf("message %d: no PUBACK within 30 s", i)
				return
			}
			if err := tok.Error(); err != nil {
				pubErr <- fmt.Errorf("message %d: %w", i, err)
				return
			}
			acked <- "m" + strconv.Itoa(i)
			if i%every == every-1 {
				roam <- struct{}{}
			}
		}
	}()
	moves := 0
	for moves < total/every {
		select {
		case <-roam:
			moves++
			pahoClient(t, tc.nodes[moves%2].mqtt, "rover", false, got) // takes the session over
		case err := <-pubErr:
			t.Fatal(err)
		case <-time.After(2 * time.Minute):
			t.Fatal("publisher stalled")
		}
	}
	want := map[string]bool{}
	for p := range acked {
		want[p] = true
	}
	seen := map[string]int{}
	missing := func() int {
		n := 0
		for p := range want {
			if seen[p] == 0 {
				n++
			}
		}
		return n
	}
	for missing() > 0 {
		select {
		case m := <-got:
			seen[string(m.Payload())]++
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d acknowledged messages never reached the roaming device (%d moves)", missing(), total, moves)
		}
	}
	dups := 0
	for _, n := range seen {
		dups += max(0, n-1)
	}
	t.Logf("roaming device: %d messages, %d moves between n1 and n2, %d duplicates", total, moves, dups)
}

// awaitRoutes waits until node on's route table holds every filter of node
// of (its own count of them), as /api/v1/cluster shows.
func awaitRoutes(t *testing.T, on, of *clusterHub) {
	t.Helper()
	routes := func(h *clusterHub, name string) int {
		code, body := apiCall(t, h.hub, http.MethodGet, "/api/v1/cluster", clusterKey, "")
		var st struct {
			Nodes []struct {
				Name   string `json:"name"`
				Routes int    `json:"routes"`
			} `json:"nodes"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
			return -1
		}
		for _, n := range st.Nodes {
			if n.Name == name {
				return n.Routes
			}
		}
		return -1
	}
	want := routes(of, of.name)
	require.Positive(t, want, "%s holds filters", of.name)
	require.Eventually(t, func() bool { return routes(on, of.name) >= want }, 60*time.Second, 50*time.Millisecond,
		"%s knows the %d filters of %s", on.name, want, of.name)
}
