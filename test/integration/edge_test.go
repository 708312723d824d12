package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// linkProxy is the test's TCP proxy on the link between an edge and the
// centre: cut closes every connection and refuses new ones (or, as a
// blackhole, keeps them open and forwards nothing, so the edge notices
// only by its keep alive); resume lets connections through again.
type linkProxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	conns     []net.Conn
	down      bool
	blackhole bool
}

func startProxy(t *testing.T, target string) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &linkProxy{ln: ln, target: target}
	go p.accept()
	t.Cleanup(func() { _ = ln.Close(); p.closeAll() })
	return p
}

func (p *linkProxy) addr() string { return p.ln.Addr().String() }

func (p *linkProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down, hole := p.down, p.blackhole
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		switch {
		case down && hole:
			go func() { _, _ = io.Copy(io.Discard, c) }()
		case down:
			_ = c.Close()
		default:
			go p.pipe(c)
		}
	}
}

func (p *linkProxy) pipe(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	forward := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				hole := p.down && p.blackhole
				p.mu.Unlock()
				if !hole {
					if _, werr := dst.Write(buf[:n]); werr != nil {
						break
					}
				}
			}
			if err != nil {
				break
			}
		}
		_ = dst.Close()
		_ = src.Close()
	}
	go forward(up, c)
	forward(c, up)
}

// cut breaks the link.
func (p *linkProxy) cut(blackhole bool) {
	p.mu.Lock()
	p.down, p.blackhole = true, blackhole
	p.mu.Unlock()
	if !blackhole {
		p.closeAll()
	}
}

// resume mends the link (blackholed connections are closed: the edge
// dials again).
func (p *linkProxy) resume() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
	p.closeAll()
}

func (p *linkProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// checkOncePerDevice checks that each device's messages (topic
// fleet/<dev>/data, payload its number) arrived in order, 0…n-1, and
// returns the number of second copies (each the same forwarded message:
// same iothub-seq).
func checkOncePerDevice(t *testing.T, got []received, devices, n int) (dups int) {
	t.Helper()
	topics, payloads := make([]string, len(got)), make([]string, len(got))
	for i, r := range got {
		topics[i], payloads[i] = r.topic, r.payload
	}
	repeats := inOrder(t, topics, payloads, devices, n)
	for _, p := range repeats {
		again, first := got[p[0]], got[p[1]]
		require.Equal(t, first.props["iothub-seq"], again.props["iothub-seq"], "%s %s twice, as two messages", again.topic, again.payload)
		t.Logf("%s %s received twice (seq %s)", again.topic, again.payload, again.props["iothub-seq"])
	}
	return len(repeats)
}

// publishRange has each of devices publish the numbers [from, to) at
// QoS 1 to fleet/dev-NN/data, each acknowledged before the next.
func publishRange(t *testing.T, h *hub, devices, from, to int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, devices)
	for d := range devices {
		c := pahoDeviceV5(t, h, fmt.Sprintf("dev-%02d", d), paho.ClientConfig{}, true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = c.Disconnect(&paho.Disconnect{}) }()
			for i := from; i < to; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				_, err := c.Publish(ctx, &paho.Publish{Topic: fmt.Sprintf("fleet/dev-%02d/data", d), QoS: 1,
					Payload: []byte(strconv.Itoa(i))})
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// edgeYAML is an edge's config: forward filters and down subscriptions.
func edgeYAML(name, centre, forward, subscribe string) string {
	return fmt.Sprintf(`node:
  name: %s
upstream:
  url: mqtt://%s
  keep_alive: 2s
  connect_timeout: 2s
  reconnect_max: 500ms
  forward: [%s]
  subscribe: [%s]
`, name, centre, forward, subscribe)
}

// centreYAML is a centre whose rule sends fleet/# to Kafka, keyed by
// topic; a session may queue every message of the test.
func centreYAML(kafka string) string {
	return fmt.Sprintf(`node:
  name: centre
mqtt:
  max_queued_messages: 20000
bridges:
%s
rules:
  list:
    - id: fleet_to_kafka
      sql: 'SELECT payload, topic FROM "fleet/#"'
      actions:
        - type: bridge
          bridge: fleet
`, bridgeYAML("fleet", kafka, "edge-fleet", `      key: "${topic}"
      value: "${payload}"
`))
}

// upstreamStatus returns GET /api/v1/upstream.
func upstreamStatus(t *testing.T, h *hub) map[string]any {
	t.Helper()
	code, body := apiCall(t, h, http.MethodGet, "/api/v1/upstream", apiKey, "")
	require.Equal(t, http.StatusOK, code, body)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m))
	return m
}

// awaitBacklogEmpty waits until the edge has sent everything.
func awaitBacklogEmpty(t *testing.T, h *hub) map[string]any {
	t.Helper()
	var e map[string]any
	require.Eventually(t, func() bool {
		e, _ = upstreamStatus(t, h)["edge"].(map[string]any)
		return e != nil && e["backlog_messages"] == 0.0
	}, 2*time.Minute, 100*time.Millisecond, "edge backlog: %v", e)
	return e
}

// TestEdge_storeAndForward: 20 devices publish 10,000 QoS 1 messages to
// an edge; the link to the centre is cut for most of them. Every message
// reaches a subscriber at the centre and the centre's Kafka exactly once,
// in order per device — also when the edge is killed (-9) during the cut
// with its backlog unsent, and when the centre is killed while the
// backlog drains (the subscriber is offline then, its session queueing at
// the centre: a copy it received twice would have been routed twice, not
// redelivered by its own session). The centre is killed while records are
// in flight to Kafka (its bridge has sent them, Kafka's answer may not be
// back): Kafka, read to its end with kcat once the bridge is idle, still
// holds each message once (the bridge reads back what Kafka holds after
// the crash and does not queue a routed-again copy of a record it holds).
func TestEdge_storeAndForward(t *testing.T) {
	t.Parallel()
	const devices, before, during, after = 20, 100, 300, 100 // 10,000 messages
	tests := []struct {
		name                 string
		blackhole            bool
		killEdge, killCentre bool
	}{
		{name: "link cut silently", blackhole: true},
		{name: "kill -9 edge during the cut", killEdge: true},
		{name: "kill -9 centre while draining", killCentre: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := startKafka(t, "edge-fleet")
			centre := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, centreYAML(k.addr)))
			centreCfg := centre.cmd.Args[len(centre.cmd.Args)-1]
			proxy := startProxy(t, centre.mqtt)
			edge := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, edgeYAML("edge-a", proxy.addr(), `"fleet/#"`, "")))
			edgeCfg := edge.cmd.Args[len(edge.cmd.Args)-1]
			sub := collect(t, centre.mqtt, "central-app", "fleet/#")

			publishRange(t, edge, devices, 0, before)
			sub.awaitDistinct(t, devices*before, "before the cut")

			proxy.cut(tc.blackhole)
			publishRange(t, edge, devices, before, before+during)
			e := upstreamStatus(t, edge)["edge"].(map[string]any)
			require.Positive(t, e["backlog_messages"], "the cut holds messages at the edge: %v", e)
			if tc.killEdge {
				require.NoError(t, edge.cmd.Process.Signal(syscall.SIGKILL))
				<-edge.exited
				edge = startHubOn(t, edge, "--config", edgeCfg)
			}
			if tc.killCentre {
				sub.stop()
				slowProduce(k)
			}
			proxy.resume()
			if tc.killCentre {
				require.Eventually(t, func() bool {
					c := upstreamStatus(t, centre)["centre"].(map[string]any)["dedup"].(map[string]any)
					if c["checked"].(float64) < float64(devices*(before+during/4)) {
						return false
					}
					inflight, _ := bridgeGet(t, centre, "fleet", "metrics")["inflight"].(float64)
					return inflight > 0
				}, 2*time.Minute, time.Millisecond, "the centre receives the backlog and sends it to Kafka")
				require.NoError(t, centre.cmd.Process.Signal(syscall.SIGKILL))
				<-centre.exited
				centre = startHubOn(t, centre, "--config", centreCfg)
			}
			publishRange(t, edge, devices, before+during, before+during+after)
			n := before + during + after
			e = awaitBacklogEmpty(t, edge)
			if tc.killCentre {
				sub = collectInto(t, sub, centre.mqtt, "central-app", "fleet/#")
			}
			sub.awaitDistinct(t, devices*n, "at the centre's subscriber")
			dups := checkOncePerDevice(t, sub.all(), devices, n)
			require.Zero(t, dups, "exactly once at the centre's subscriber")
			r := sub.all()[0]
			require.Equal(t, "edge-a", r.props["iothub-origin"])
			require.NotEmpty(t, r.props["iothub-seq"])

			m := awaitBridgeIdle(t, centre, "fleet")
			recs := kcatAll(t, k.addr, "edge-fleet")
			ids := map[string]bool{}
			for i := range recs {
				recs[i].Key = strings.TrimSuffix(strings.TrimPrefix(recs[i].Key, "fleet/"), "/data")
				id := recs[i].Headers["iothub-id"]
				require.NotEmpty(t, id, "record %v has its identity", recs[i])
				ids[id] = true
			}
			require.Zero(t, checkOrdered(t, recs, devices, n), "no record in Kafka twice")
			require.Len(t, recs, devices*n, "every record in Kafka once")
			require.Len(t, ids, devices*n, "one identity per message")
			c := upstreamStatus(t, centre)["centre"].(map[string]any)
			t.Logf("edge: sent %v resends %v; centre: dedup %v, kafka bridge deduplicated %v; subscriber duplicates %d; kafka records %d for %d messages",
				e["sent"], e["resends"], c["dedup"], m["deduplicated"], dups, len(recs), devices*n)
		})
	}
}

// slowProduce makes Kafka take its time (150 ms) before it handles each
// produce request: a hub killed meanwhile leaves requests that Kafka then
// handles, records Kafka holds that the bridge never saw acknowledged.
func slowProduce(k *kafkaServer) {
	k.c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		k.c.KeepControl()
		k.c.SleepControl(func() { time.Sleep(150 * time.Millisecond) })
		return nil, nil, false
	})
}

// awaitBridgeIdle waits until bridge name has nothing queued or in flight
// and returns its metrics.
func awaitBridgeIdle(t *testing.T, h *hub, name string) map[string]any {
	t.Helper()
	var m map[string]any
	require.Eventually(t, func() bool {
		m = bridgeGet(t, h, name, "metrics")
		return m["queued"] == 0.0 && m["inflight"] == 0.0
	}, 2*time.Minute, 50*time.Millisecond, "bridge %s idle: %v", name, m)
	return m
}

// kcatAll reads every record of topic with Debian's kcat, to the end of
// each partition: key, value and headers.
func kcatAll(t *testing.T, addr, topic string) []record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool(t, "kcat"), "-b", addr, "-C", "-e", "-q", "-t", topic, "-o", "beginning",
		"-f", "%k\t%s\t%h\n").Output()
	require.NoError(t, err, "kcat -C")
	var recs []record
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(l, "\t", 3)
		require.Len(t, f, 3, "kcat line %q", l)
		r := record{Key: f[0], Value: f[1], Headers: map[string]string{}}
		for _, h := range strings.Split(f[2], ",") {
			if k, v, ok := strings.Cut(h, "="); ok {
				r.Headers[k] = v
			}
		}
		recs = append(recs, r)
	}
	return recs
}

// TestEdge_commands: a command sent at the centre for a device behind an
// edge is relayed by the edge; the centre's answer reports the device's
// PUBACK on the edge (acked), or queued when the device is offline with
// a persistent session (it gets the command when it reconnects), or
// no_session when no edge has the device. A command from Kafka reaches
// the device through the edge's subscription on the centre.
func TestEdge_commands(t *testing.T) {
	t.Parallel()
	k := startKafka(t, "commands")
	centre := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, fmt.Sprintf(`node:
  name: centre
edges:
  command_relay: true
bridges:
  - name: commands
    type: kafka_consumer
    kafka:
      bootstrap_servers: [%q]
    consumer:
      topics: [commands]
      offset: earliest
      mqtt_topic: devices/${key}/command
`, k.addr)))
	edge := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config",
		hubConfig(t, edgeYAML("edge-a", centre.mqtt, "", `{filter: "devices/+/command", qos: 1}`)))
	require.Eventually(t, func() bool {
		e, _ := upstreamStatus(t, edge)["edge"].(map[string]any)
		return e != nil && e["link"].(map[string]any)["state"] == "connected"
	}, 30*time.Second, 50*time.Millisecond)

	got := make(chan string, 10)
	lockCfg := paho.ClientConfig{OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
		got <- pr.Packet.Topic + " " + string(pr.Packet.Payload)
		return true, nil
	}}}
	lock := pahoDeviceV5(t, edge, "lock-1", lockCfg, true)
	subscribe(t, lock, "devices/lock-1/command")

	code, body := apiCall(t, centre, http.MethodPost, "/api/v1/devices/lock-1/commands", apiKey,
		`{"payload":"{\"action\":\"unlock\"}","qos":1,"wait":"acked","timeout":"20s"}`)
	require.Equal(t, http.StatusOK, code, body)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &res))
	require.Equal(t, "acked", res["status"], body)
	require.Equal(t, "edge-a", res["edge"], body)
	require.NotEmpty(t, res["acked_at"], body)
	require.Equal(t, `devices/lock-1/command {"action":"unlock"}`, <-got)

	// Offline with a persistent session: queued at the edge.
	c := persistentDevice(t, edge, "lock-2", lockCfg)
	subscribe(t, c, "devices/lock-2/command")
	require.NoError(t, c.Disconnect(&paho.Disconnect{}))
	require.Eventually(t, func() bool {
		code, body := apiCall(t, edge, http.MethodGet, "/api/v1/clients/lock-2", apiKey, "")
		return code == http.StatusOK && strings.Contains(body, `"connected":false`)
	}, 10*time.Second, 20*time.Millisecond)
	code, body = apiCall(t, centre, http.MethodPost, "/api/v1/devices/lock-2/commands", apiKey,
		`{"payload":"open","qos":1,"wait":"acked","timeout":"20s"}`)
	require.Equal(t, http.StatusAccepted, code, body)
	require.Contains(t, body, `"status":"queued"`)
	require.Contains(t, body, `"edge":"edge-a"`)
	persistentDevice(t, edge, "lock-2", lockCfg)
	require.Equal(t, "devices/lock-2/command open", <-got)

	code, body = apiCall(t, centre, http.MethodPost, "/api/v1/devices/nobody/commands", apiKey, `{"payload":"x","qos":1}`)
	require.Equal(t, http.StatusNotFound, code, body)
	require.Contains(t, body, `"status":"no_session"`)

	// From Kafka: the centre publishes devices/lock-1/command, the edge's
	// subscription brings it down.
	produce(t, k.addr, "commands", "lock-1", "from-kafka")
	require.Equal(t, "devices/lock-1/command from-kafka", <-got)
	st := upstreamStatus(t, centre)["centre"].(map[string]any)["relay"].(map[string]any)
	require.InDelta(t, 3, st["relayed"], 0)
	require.InDelta(t, 2, st["answered"], 0)
}

// persistentDevice connects an MQTT 5 client whose session outlives its
// connection by an hour.
func persistentDevice(t *testing.T, h *hub, id string, cfg paho.ClientConfig) *paho.Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", h.mqtt, 5*time.Second)
	require.NoError(t, err)
	cfg.Conn, cfg.OnClientError = nc, func(error) {}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	se := uint32(3600)
	_, err = c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, Properties: &paho.ConnectProperties{SessionExpiryInterval: &se}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// produce writes one record with franz-go.
func produce(t *testing.T, addr, topic, key, value string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}).FirstErr())
}

// TestEdge_noLoops: two edges and a centre, each edge forwarding fleet/#
// up and subscribing fleet/# down: a message published at one edge
// reaches the centre once and the other edge once, and nothing comes
// back up (the edges' queues hold only their own devices' messages).
func TestEdge_noLoops(t *testing.T) {
	t.Parallel()
	centre := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey})
	var edges [2]*hub
	for i, name := range []string{"edge-a", "edge-b"} {
		edges[i] = startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config",
			hubConfig(t, edgeYAML(name, centre.mqtt, `"fleet/#"`, `{filter: "fleet/#", qos: 1}`)))
	}
	atCentre := collect(t, centre.mqtt, "centre-app", "fleet/#")
	var atEdge [2]*collector
	for i, e := range edges {
		require.Eventually(t, func() bool {
			s, _ := upstreamStatus(t, e)["edge"].(map[string]any)
			return s != nil && s["link"].(map[string]any)["state"] == "connected"
		}, 30*time.Second, 50*time.Millisecond)
		atEdge[i] = collect(t, e.mqtt, "edge-app", "fleet/#")
	}
	const per = 50
	for i, e := range edges {
		c := pahoDeviceV5(t, e, fmt.Sprintf("car-%d", i), paho.ClientConfig{}, true)
		for n := range per {
			publish1(t, c, fmt.Sprintf("fleet/car-%d/data", i), []byte(strconv.Itoa(n)))
		}
	}
	for _, c := range append([]*collector{atCentre}, atEdge[:]...) {
		c.awaitDistinct(t, 2*per, "every message everywhere")
	}
	for i, e := range edges {
		s := awaitBacklogEmpty(t, e)
		st := s["streams"].([]any)[0].(map[string]any)
		require.InDelta(t, per, st["enqueued"], 0, "edge %d queued only its own devices' messages", i)
	}
	// A marker from each edge, once everything else arrived: a loop copy
	// would have arrived before it.
	for i, e := range edges {
		c := pahoDeviceV5(t, e, fmt.Sprintf("car-%d", i), paho.ClientConfig{}, true)
		publish1(t, c, fmt.Sprintf("fleet/car-%d/data", i), []byte(strconv.Itoa(per)))
	}
	for _, c := range append([]*collector{atCentre}, atEdge[:]...) {
		c.awaitDistinct(t, 2*(per+1), "the markers")
		require.Len(t, c.all(), 2*(per+1), "no message twice")
	}
}

// TestEdge_websocketWithPassword: the link runs over ws:// with a username
// and password; the centre authenticates it and allows it, through its
// ACL, exactly the topics docs/edge.md lists. A wrong password keeps the
// link down with the centre's reason in the status.
func TestEdge_websocketWithPassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	addUser(t, dataDir, "edge-a", "edge-secret")
	addUser(t, dataDir, "edge-b", "edge-b-secret")
	addUser(t, dataDir, "app", "app-secret")
	acl := filepath.Join(dir, "acl.txt")
	require.NoError(t, os.WriteFile(acl, []byte(`allow publish username=edge-a fleet/#
allow publish username=edge-a $iothub/edges/replies/#
allow subscribe username=edge-a $iothub/edges/commands
allow subscribe username=app fleet/#
deny all #
`), 0o600))
	centre := startHubIn(t, dataDir, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, `node:
  name: centre
edges:
  command_relay: true
auth:
  chain: [users]
  acl:
    default: deny
    file: `+acl+`
`))
	edgeCfg := func(name, username, password string) string {
		return hubConfig(t, fmt.Sprintf(`node:
  name: %s
upstream:
  url: ws://%s/mqtt
  username: %s
  password: %s
  reconnect_max: 500ms
  forward: ["fleet/#"]
`, name, centre.ws, username, password))
	}
	// The refused edge has an account of its own: its failures, from the
	// same address, would otherwise throttle edge-a's logins too
	// (docs/security.md, "Brute force").
	bad := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", edgeCfg("edge-bad", "edge-b", "wrong"))
	good := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", edgeCfg("edge-a", "edge-a", "edge-secret"))
	require.Eventually(t, func() bool {
		e := upstreamStatus(t, good)["edge"].(map[string]any)
		return e["link"].(map[string]any)["state"] == "connected"
	}, 30*time.Second, 50*time.Millisecond)

	app := &collector{seen: map[string]bool{}}
	collectAs(t, app, centre.mqtt, "app", "app-secret", "fleet/#")
	c := pahoDeviceV5(t, good, "car-1", paho.ClientConfig{}, true)
	publish1(t, c, "fleet/car-1/data", []byte("42"))
	app.awaitDistinct(t, 1, "over WebSocket")
	require.Equal(t, "edge-a", app.all()[0].props["iothub-origin"])

	lock := pahoDeviceV5(t, good, "lock-1", paho.ClientConfig{}, true)
	subscribe(t, lock, "devices/lock-1/command")
	code, body := apiCall(t, centre, http.MethodPost, "/api/v1/devices/lock-1/commands", apiKey, `{"payload":"x","qos":1,"timeout":"20s"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"status":"acked"`)

	e := upstreamStatus(t, bad)["edge"].(map[string]any)["link"].(map[string]any)
	require.NotEqual(t, "connected", e["state"], e)
	require.NotEmpty(t, e["last_error"], e)
	// The centre refused its password. (The edge's own error usually says
	// "centre refused the link: reason 0x86"; when the centre's bcrypt
	// check of the wrong password outlasts the edge's 10 s connect timeout
	// it reads "context deadline exceeded" instead: CI run 8 of 2026-12-07,
	// at bcrypt's default cost in the -race binary; TestMain now sets the
	// least cost.)
	require.Contains(t, centre.logs.String(), "wrong password for user edge-b")
}

// TestEdge_streams: after a cut, a stream of higher priority drains before
// the default one, and a stream's TTL drops (and counts) what waited
// longer than it instead of sending it.
func TestEdge_streams(t *testing.T) {
	t.Parallel()
	centre := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey})
	proxy := startProxy(t, centre.mqtt)
	edge := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, edgeYAML("edge-a", proxy.addr(), `"tele/#"`, "")+`  streams:
    - name: alarms
      priority: 10
      forward: ["alarm/#"]
    - name: stale
      forward: ["stale/#"]
      queue: {ttl: 1s}
`))
	sub := collect(t, centre.mqtt, "app", "#")
	proxy.cut(false)
	c := pahoDeviceV5(t, edge, "car-1", paho.ClientConfig{}, true)
	for i := range 300 {
		publish1(t, c, "tele/car-1", []byte(strconv.Itoa(i)))
	}
	for i := range 50 {
		publish1(t, c, "alarm/car-1", []byte(strconv.Itoa(i)))
		publish1(t, c, "stale/car-1", []byte(strconv.Itoa(i)))
	}
	stream := func(name string) map[string]any {
		for _, s := range upstreamStatus(t, edge)["edge"].(map[string]any)["streams"].([]any) {
			if s := s.(map[string]any); s["name"] == name {
				return s
			}
		}
		t.Fatalf("no stream %s", name)
		return nil
	}
	require.Eventually(t, func() bool { return stream("stale")["oldest_backlog_age_seconds"].(float64) > 1.5 },
		30*time.Second, 50*time.Millisecond, "the stale stream's messages outlive their TTL")
	proxy.resume()
	sub.awaitDistinct(t, 350, "tele and alarms")
	got := sub.all()
	for i, r := range got[:50] {
		require.Equal(t, "alarm/car-1", r.topic, "message %d: the alarms drain first", i)
	}
	require.Eventually(t, func() bool { return stream("stale")["expired"] == 50.0 }, 30*time.Second, 50*time.Millisecond)
	for _, r := range sub.all() {
		require.NotEqual(t, "stale/car-1", r.topic, "an expired message was sent")
	}
	require.Len(t, sub.all(), 350)
}

// TestEdge_tlsCredentials: one edge links over mqtts:// with a client
// certificate (the centre takes its identity from the CN), another over
// wss:// with a JWT read from a file; both forward to the centre.
func TestEdge_tlsCredentials(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t, "edge test CA")
	server := ca.Server(t, "localhost")
	client := ca.Client(t, "edge-m")
	mtls, wss := freePort(t), freePort(t)
	const secret = "edge-test-secret-0123456789abcdef"
	centre := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, fmt.Sprintf(`node:
  name: centre
listeners:
  tls:
    - name: mtls
      address: %q
      cert_file: %s
      key_file: %s
      ca_file: %s
      client_auth: require
      identity_from: cn
  wss:
    - name: wss
      address: %q
      cert_file: %s
      key_file: %s
auth:
  chain: [cert, jwt]
  jwt:
    secret: %s
`, mtls, server.CertFile, server.KeyFile, ca.File, wss, server.CertFile, server.KeyFile, secret)))
	waitListening(t, wss, centre.exited)
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "edge", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	require.NoError(t, err)
	tokenFile := filepath.Join(t.TempDir(), "token.jwt")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	_, mtlsPort, _ := net.SplitHostPort(mtls)
	_, wssPort, _ := net.SplitHostPort(wss)
	edges := map[string]string{
		"edge-m": fmt.Sprintf("url: mqtts://localhost:%s\n  tls: {ca_file: %s, cert_file: %s, key_file: %s}", mtlsPort, ca.File, client.CertFile, client.KeyFile),
		"edge-j": fmt.Sprintf("url: wss://localhost:%s/mqtt\n  jwt_file: %s\n  tls: {ca_file: %s}", wssPort, tokenFile, ca.File),
	}
	app := &collector{seen: map[string]bool{}}
	collectAs(t, app, centre.mqtt, "app", token, "fleet/#")
	for name, link := range edges {
		e := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, fmt.Sprintf(`node:
  name: %s
upstream:
  %s
  reconnect_max: 500ms
  forward: ["fleet/#"]
`, name, link)))
		c := pahoDeviceV5(t, e, "car-"+name, paho.ClientConfig{}, true)
		publish1(t, c, "fleet/"+name, []byte("hello"))
	}
	app.awaitDistinct(t, 2, "from both edges")
	origins := map[string]string{}
	for _, r := range app.all() {
		origins[r.topic] = r.props["iothub-origin"]
	}
	require.Equal(t, map[string]string{"fleet/edge-m": "edge-m", "fleet/edge-j": "edge-j"}, origins)
}

// TestEdge_rateLimit: a backlog drains no faster than upstream.rate_limit
// (a lower bound on the time, which a loaded machine can only lengthen).
func TestEdge_rateLimit(t *testing.T) {
	t.Parallel()
	const n, rate = 300, 100
	centre := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey})
	proxy := startProxy(t, centre.mqtt)
	edge := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config",
		hubConfig(t, edgeYAML("edge-a", proxy.addr(), `"tele/#"`, "")+fmt.Sprintf("  rate_limit: %d\n", rate)))
	sub := collect(t, centre.mqtt, "app", "tele/#")
	proxy.cut(false)
	c := pahoDeviceV5(t, edge, "car-1", paho.ClientConfig{}, true)
	for i := range n {
		publish1(t, c, "tele/car-1", []byte(strconv.Itoa(i)))
	}
	start := time.Now()
	proxy.resume()
	sub.awaitDistinct(t, n, "the backlog")
	took := time.Since(start)
	// The limiter lets a burst of rate/10 through at once, then rate per second.
	require.GreaterOrEqual(t, took, time.Duration(n-rate/10)*time.Second/rate, "drained faster than rate_limit")
	checkOncePerDevice(t, sub.all(), 1, n)
}

// TestEdge_bandwidthLimit: a backlog drains no faster than
// upstream.bandwidth_limit (topic + payload bytes per second; the limiter
// lets one second's worth through at once).
func TestEdge_bandwidthLimit(t *testing.T) {
	t.Parallel()
	const n, size, limit = 40, 1000, 10000 // 40,000 bytes at 10,000 B/s: at least 3 s after the first 10,000
	centre := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey})
	proxy := startProxy(t, centre.mqtt)
	edge := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config",
		hubConfig(t, edgeYAML("edge-a", proxy.addr(), `"tele/#"`, "")+fmt.Sprintf("  bandwidth_limit: %d\n", limit)))
	sub := collect(t, centre.mqtt, "app", "tele/#")
	proxy.cut(false)
	c := pahoDeviceV5(t, edge, "car-1", paho.ClientConfig{}, true)
	const topic = "tele/car-1" // 10 bytes
	for i := range n {
		p := []byte(strconv.Itoa(i))
		publish1(t, c, topic, append(p, strings.Repeat(" ", size-len(topic)-len(p))...))
	}
	start := time.Now()
	proxy.resume()
	sub.awaitDistinct(t, n, "the backlog")
	took := time.Since(start)
	require.GreaterOrEqual(t, took, time.Duration(n*size-limit)*time.Second/limit, "drained faster than bandwidth_limit")
	for i, p := range sub.payloads() {
		require.Equal(t, strconv.Itoa(i), strings.TrimRight(p, " "), "in order, each once")
	}
}

// TestEdge_queueFullRefuses: with queue.full_policy refuse, a stream whose
// queue is full while the link is down refuses new messages (the devices
// still get their PUBACKs; the refused are counted as dropped); what was
// queued reaches the centre, oldest first, and nothing else.
func TestEdge_queueFullRefuses(t *testing.T) {
	t.Parallel()
	const n, size = 150, 1000 // 150 KB into a 64 KiB queue
	centre := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey})
	proxy := startProxy(t, centre.mqtt)
	edge := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config",
		hubConfig(t, edgeYAML("edge-a", proxy.addr(), `"tele/#"`, "")+"  queue: {max_bytes: 65536, full_policy: refuse}\n"))
	sub := collect(t, centre.mqtt, "app", "tele/#")
	proxy.cut(false)
	c := pahoDeviceV5(t, edge, "car-1", paho.ClientConfig{}, true)
	for i := range n {
		p := []byte(strconv.Itoa(i))
		publish1(t, c, "tele/car-1", append(p, strings.Repeat(" ", size-len(p))...))
	}
	e := upstreamStatus(t, edge)["edge"].(map[string]any)
	dropped := 0.0
	for _, v := range e["dropped"].(map[string]any) {
		dropped += v.(float64)
	}
	queued := e["backlog_messages"].(float64)
	require.Positive(t, dropped, "the full queue refused: %v", e)
	require.Equal(t, float64(n), queued+dropped, "each message queued or counted: %v", e)
	proxy.resume()
	awaitBacklogEmpty(t, edge)
	sub.awaitDistinct(t, int(queued), "the queued messages")
	got := sub.payloads()
	require.Len(t, got, int(queued), "only what was queued")
	for i, p := range got {
		require.Equal(t, strconv.Itoa(i), strings.TrimRight(p, " "), "the oldest kept, in order")
	}
}

// TestEdge_sameName: two edges configured with the same name (hence the
// same link client id) connect to one centre. The centre gives the link's
// session to the newer connection each time, and each edge sees its link
// taken over: it says so in its status (takeovers, last_error naming the
// cause) and logs an error, and reconnects after reconnect_max instead of
// fighting for the session at full speed. Their messages still arrive
// once each (the dedup marks are per queue epoch, which differ).
func TestEdge_sameName(t *testing.T) {
	t.Parallel()
	centre := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, "node:\n  name: centre\n"))
	edges := make([]*hub, 2)
	for i := range edges {
		edges[i] = startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, edgeYAML("edge-a", centre.mqtt, `"fleet/#"`, "")))
	}
	sub := collect(t, centre.mqtt, "central-app", "fleet/#")
	const n = 20
	var wg sync.WaitGroup
	for i, e := range edges {
		c := pahoDeviceV5(t, e, fmt.Sprintf("dev-%d", i), paho.ClientConfig{}, true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range n {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := c.Publish(ctx, &paho.Publish{Topic: fmt.Sprintf("fleet/dev-%d/data", i), QoS: 1, Payload: []byte(strconv.Itoa(j))})
				cancel()
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	var takeovers float64
	require.Eventually(t, func() bool {
		takeovers = 0
		for _, e := range edges {
			l := upstreamStatus(t, e)["edge"].(map[string]any)["link"].(map[string]any)
			v, _ := l["takeovers"].(float64)
			takeovers += v
		}
		return takeovers > 0
	}, time.Minute, 50*time.Millisecond, "an edge sees its link's session taken over")
	seen := false
	for _, e := range edges {
		if strings.Contains(e.logs.String(), "is another edge configured with the same upstream.name or client_id?") {
			seen = true
		}
	}
	require.True(t, seen, "an edge logs why its link keeps being taken over")
	for _, e := range edges {
		awaitBacklogEmpty(t, e)
	}
	sub.awaitDistinct(t, 2*n, "both edges' messages at the centre")
	require.Zero(t, checkOncePerDevice(t, sub.all(), 2, n), "each message once")
	t.Logf("takeovers seen by the edges: %v", takeovers)
}
