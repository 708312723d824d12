package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/stretchr/testify/require"
)

// startProxiedCluster starts n nodes whose route connections all pass
// through test-owned proxies (one in front of each node's cluster port,
// which the node binds itself: no port is picked and closed before the
// hub binds it). Each node advertises its proxy; the seeds are the
// proxies.
func startProxiedCluster(t *testing.T, n int) (*testCluster, []*routeProxy) {
	t.Helper()
	proxies := make([]*routeProxy, n)
	seeds := make([]string, n)
	for i := range n {
		proxies[i] = newRouteProxy(t, "n"+strconv.Itoa(i+1))
		seeds[i] = proxies[i].Addr()
	}
	tc := &testCluster{nodes: make([]*clusterHub, n)}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := t.TempDir()
			cfg := filepath.Join(dir, "iothub.yaml")
			yaml := fmt.Sprintf("cluster:\n  advertise: %s\n", proxies[i].Addr())
			if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
				t.Error(err)
				return
			}
			c := runClusterHub(t, &clusterHub{name: proxies[i].node, dir: dir, addr: anyPort, seeds: seeds})
			proxies[i].setTarget(waitBound(t, c.hub, "cluster")["cluster"])
			tc.nodes[i] = c
		}()
	}
	wg.Wait()
	for _, h := range tc.nodes {
		require.NotNil(t, h, "a node did not start")
	}
	tc.waitFormed(t)
	return tc, proxies
}

// v5Session connects a persistent MQTT 5 session (expiry 600 s) to addr;
// its messages' payloads go to got, a DISCONNECT from the server's reason
// code to gone.
func v5Session(t *testing.T, addr, id string, got chan<- string, gone chan<- byte) (*paho.Client, *paho.Connack, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {}, PacketTimeout: 40 * time.Second,
		OnServerDisconnect: func(d *paho.Disconnect) {
			if gone != nil {
				gone <- d.ReasonCode
			}
		},
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(p paho.PublishReceived) (bool, error) {
			if got != nil {
				got <- string(p.Packet.Payload)
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	expiry := uint32(600)
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	return c, ack, err
}

// waitClusterView waits until node h's /api/v1/cluster shows want nodes
// up.
func waitClusterView(t *testing.T, h *clusterHub, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := apiCall(t, h.hub, http.MethodGet, "/api/v1/cluster", clusterKey, "")
		if code == http.StatusOK && strings.Count(body, `"state":"up"`) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %d nodes up within 60s: %d %s", h.name, want, code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterPartition cuts n3 off from n1 and n2 with the test's route
// proxies, then heals the partition:
//   - the majority (n1, n2) keeps serving: it takes n3's sessions, accepts
//     CONNECTs (n3's device among them) and acknowledges QoS 1 messages;
//   - the minority (n3) refuses new CONNECTs (0x88) and keeps local
//     pub/sub among the connections it has;
//   - once healed, the device's stale connection on n3 is closed (0x8E),
//     so its client id is live once cluster-wide; the majority's sessions
//     stay where they are; every acknowledged QoS 1 message reached the
//     persistent sessions it was for.
func TestClusterPartition(t *testing.T) {
	t.Parallel()
	tc, proxies := startProxiedCluster(t, 3)
	n1, n2, n3 := tc.nodes[0], tc.nodes[1], tc.nodes[2]

	// A persistent subscriber on the majority side, whose connection must
	// survive the heal.
	majGot := make(chan mqtt.Message, 1000)
	var majLost atomic.Bool
	o := mqtt.NewClientOptions().AddBroker("tcp://" + n1.mqtt).SetClientID("part-sub").SetCleanSession(false).
		SetAutoReconnect(false).SetKeepAlive(30 * time.Second).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { majGot <- m }).
		SetConnectionLostHandler(func(mqtt.Client, error) { majLost.Store(true) })
	majSub := mqtt.NewClient(o)
	tok := majSub.Connect()
	require.True(t, tok.WaitTimeout(15*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { majSub.Disconnect(0) })
	pahoSubscribe(t, majSub, "part/#", 1)

	// The device: a persistent MQTT 5 session on n3.
	oldGone := make(chan byte, 2)
	dev, _, err := v5Session(t, n3.mqtt, "part-dev", nil, oldGone)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	_, err = dev.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "part/#", QoS: 1}}})
	cancel()
	require.NoError(t, err)

	// A clean subscriber and a publisher on n3 for the minority's local
	// pub/sub (new CONNECTs will be refused there).
	minGot := make(chan mqtt.Message, 100)
	minSub := pahoClient(t, n3.mqtt, "part-min-sub", true, minGot)
	pahoSubscribe(t, minSub, "local/#", 1)
	minPub := pahoClient(t, n3.mqtt, "part-min-pub", true, nil)
	majPub := pahoClient(t, n2.mqtt, "part-maj-pub", true, nil)
	testutil.WaitRoute(t, majPub, "part/probe", majGot)

	logf(t, "partition: n3 cut off")
	for _, p := range proxies {
		p.partition("n3")
	}
	waitClusterView(t, n1, 2)
	waitClusterView(t, n3, 1)

	logf(t, "partition seen on both sides")
	// Majority: QoS 1 messages are acknowledged (once n3's sessions are
	// adopted, its routes released).
	var acked sync.Map
	const perSide = 20
	giveUp := time.Now().Add(90 * time.Second)
	for i := range perSide {
		payload := "maj-" + strconv.Itoa(i)
		tok := majPub.Publish("part/maj", 1, false, payload)
		require.True(t, tok.WaitTimeout(time.Until(giveUp)), "majority PUBACK for %s within 90s", payload)
		require.NoError(t, tok.Error())
		acked.Store(payload, true)
	}
	logf(t, "majority acknowledged its messages")
	// Majority: CONNECTs are accepted, the device's among them: it resumes
	// the session n3 held (its client id is now live on both sides).
	newGot := make(chan string, 1000)
	_, ack, err := v5Session(t, n1.mqtt, "part-dev", newGot, nil)
	require.NoError(t, err, "the majority accepts the device")
	require.True(t, ack.SessionPresent, "the device's session was taken over on the majority side")

	// Minority: a new CONNECT is refused with Server unavailable.
	logf(t, "device resumed on the majority; a newcomer tries the minority")
	_, ack, err = v5Session(t, n3.mqtt, "part-newcomer", nil, nil)
	if err == nil {
		t.Fatalf("the minority accepted a new session: %+v", ack)
	}
	require.NotNil(t, ack, "a CONNACK with a reason: %v", err)
	require.Equal(t, byte(0x88), ack.ReasonCode, "refused with Server unavailable")
	// Minority: local pub/sub among its connections works.
	tok = minPub.Publish("local/x", 1, false, "local")
	require.True(t, tok.WaitTimeout(30*time.Second))
	require.NoError(t, tok.Error())
	select {
	case m := <-minGot:
		require.Equal(t, "local", string(m.Payload()))
	case <-time.After(30 * time.Second):
		t.Fatal("local pub/sub on the minority side")
	}

	logf(t, "healing")
	for _, p := range proxies {
		p.heal()
	}
	waitClusterView(t, n1, 3)
	waitClusterView(t, n3, 3)

	logf(t, "healed: every node sees three")
	// The stale connection on n3 is closed: one live session per client id.
	select {
	case code := <-oldGone:
		require.Equal(t, byte(0x8E), code, "the stale copy is taken over")
	case <-time.After(60 * time.Second):
		t.Fatal("the device's stale connection on the minority side stayed open after the heal")
	}
	// Every node names n1 once its view of the registry caught up after
	// the heal (the registry is read from a replicated bucket).
	for _, h := range tc.nodes {
		var code int
		var body string
		require.Eventually(t, func() bool {
			code, body = apiCall(t, h.hub, http.MethodGet, "/api/v1/clients/part-dev", clusterKey, "")
			return code == http.StatusOK && strings.Contains(body, `"node":"n1"`)
		}, 30*time.Second, 100*time.Millisecond, "%s: the device's session is n1's: %d %s", h.name, code, body)
	}
	code, body := apiCall(t, n2.hub, http.MethodGet, "/api/v1/clients?limit=1000", clusterKey, "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 1, strings.Count(body, `"client_id":"part-dev"`), "one session cluster-wide: %s", body)

	logf(t, "one live session for the device")
	// After the heal: a message from each side, acknowledged.
	for payload, c := range map[string]mqtt.Client{"after-maj": majPub, "after-min": minPub} {
		tok := c.Publish("part/after", 1, false, payload)
		require.True(t, tok.WaitTimeout(60*time.Second), "PUBACK after the heal for %s", payload)
		require.NoError(t, tok.Error())
		acked.Store(payload, true)
	}
	total := perSide + 2
	dups := expectAcked(t, "part-sub (majority)", mqttPayloads(majGot), &acked, total)
	dups += expectAcked(t, "part-dev (resumed on the majority)", newGot, &acked, total)
	require.False(t, majLost.Load(), "the majority's sessions stay with it after the heal")
	code, body = apiCall(t, n3.hub, http.MethodGet, "/api/v1/clients/part-sub", clusterKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"node":"n1"`, "n3 did not adopt n1's sessions after the heal")
	t.Logf("partition healed: %d acknowledged messages at both persistent sessions, %d duplicates", total, dups)
}

// logf logs with the wall clock, to line the test's steps up with the
// hubs' logs.
func logf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("%s "+format, append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...)
}
