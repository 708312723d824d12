package cluster

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// testNode is a broker joined to a cluster node, serving MQTT on a
// loopback port.
type testNode struct {
	name string
	node *Node
	b    *broker.Server
	addr string
	// takenOver, when set, runs after the node gave a session up to
	// another node and before it answers (Options.onTakenOver).
	takenOver *atomic.Pointer[func(clientID string)]
}

// TestCluster runs the cluster's scenarios on one three-node cluster (a
// JetStream cluster takes seconds to elect its leaders: one start for all).
func TestCluster(t *testing.T) {
	nodes := startCluster(t, 3)
	waitReady(t, nodes)
	for _, tc := range []struct {
		name string
		f    func(*testing.T, []*testNode)
	}{
		{"crossNodeRouting", testCluster_crossNodeRouting},
		{"onceWithOverlappingFilters", testCluster_onceWithOverlappingFilters},
		{"takeoverAcrossNodes", testCluster_takeoverAcrossNodes},
		{"liveTakeoverSends0x8E", testCluster_liveTakeoverSends0x8E},
		{"liveTakeoverPassesLateMessagesOn", testCluster_liveTakeoverPassesLateMessagesOn},
		{"simultaneousConnectsOneSession", testCluster_simultaneousConnectsOneSession},
		{"retainedEverywhere", testCluster_retainedEverywhere},
		{"releasedEntryLeavesNothing", testCluster_releasedEntryLeavesNothing},
		{"nodeLossAdoptsSessions", testCluster_nodeLossAdoptsSessions},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, nodes) })
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// startCluster starts n nodes that know each other as seeds.
func startCluster(t *testing.T, n int) []*testNode {
	t.Helper()
	return startClusterWith(t, n, nil)
}

// startClusterWith is startCluster with configure changing each node's
// broker options (nil: none).
func startClusterWith(t *testing.T, n int, configure func(*broker.Options)) []*testNode {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = freePort(t)
	}
	nodes := make([]*testNode, n)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i] = startTestNode(t, "n"+strconv.Itoa(i+1), addrs[i], addrs, configure)
		}()
	}
	wg.Wait()
	for _, tn := range nodes {
		require.NotNil(t, tn)
	}
	// Every node sees every other one before the test starts.
	testutil.Eventually(t, 30*time.Second, func() bool {
		for _, tn := range nodes {
			if len(tn.node.Peers()) != n-1 {
				return false
			}
		}
		return true
	}, "nodes see each other")
	return nodes
}

func startTestNode(t *testing.T, name, addr string, seeds []string, configure func(*broker.Options)) *testNode {
	hook := new(atomic.Pointer[func(string)])
	node, err := Start(Options{
		Name: name, Address: addr, Seeds: seeds, ClusterName: "test", Replicas: min(3, len(seeds)), Dir: t.TempDir(),
		ForwardTimeout: time.Second, NodeTimeout: 3 * time.Second, Logger: testutil.Logger(t), markerTTL: time.Second,
		onTakenOver: func(id string) {
			if f := hook.Load(); f != nil {
				(*f)(id)
			}
		},
	})
	if err != nil {
		t.Errorf("start %s: %v", name, err)
		return nil
	}
	b, addrMQTT := testutil.StartBroker(t, func(o *broker.Options) {
		o.NodeName = name
		if configure != nil {
			configure(o)
		}
	})
	b.SetCluster(node)
	node.Attach(b)
	request, _ := b.AddSyncer(node)
	node.SetSyncRequest(request)
	t.Cleanup(node.Close)
	return &testNode{name: name, node: node, b: b, addr: addrMQTT, takenOver: hook}
}

func connect(t *testing.T, addr, id string, clean bool) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func subscribe(t *testing.T, c mqtt.Client, filter string, qos byte, ch chan<- mqtt.Message) {
	t.Helper()
	tok := c.Subscribe(filter, qos, func(_ mqtt.Client, m mqtt.Message) { ch <- m })
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
}

// waitRoute waits until probes on topic from pub come out of ch
// (testutil.WaitRoute), and logs the nodes' state when they never do.
func waitRoute(t *testing.T, pub mqtt.Client, topic string, ch chan mqtt.Message, nodes ...*testNode) {
	t.Helper()
	defer func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("%s: %+v %+v", n.name, n.node.Status(), n.node.Stats())
			}
		}
	}()
	testutil.WaitRoute(t, pub, topic, ch)
}

func testCluster_crossNodeRouting(t *testing.T, nodes []*testNode) {
	ch := make(chan mqtt.Message, 1000)
	sub := connect(t, nodes[1].addr, "sub", true)
	subscribe(t, sub, "devices/+/state", 1, ch)
	pub := connect(t, nodes[0].addr, "pub", true)
	waitRoute(t, pub, "devices/probe/state", ch, nodes...)

	const n = 200
	for i := range n {
		tok := pub.Publish(fmt.Sprintf("devices/lock%d/state", i%3), byte(1+i%2), false, strconv.Itoa(i))
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	for i := range n {
		select {
		case m := <-ch:
			require.Equal(t, strconv.Itoa(i), string(m.Payload()), "in order per publisher")
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d not received", i)
		}
	}
	// The third node, without interest, was sent nothing.
	require.Zero(t, nodes[2].node.Stats().Received)
	require.GreaterOrEqual(t, nodes[1].node.Stats().Received, uint64(n))
}

func testCluster_onceWithOverlappingFilters(t *testing.T, nodes []*testNode) {
	ch := make(chan mqtt.Message, 100)
	o := mqtt.NewClientOptions().AddBroker("tcp://" + nodes[1].addr).SetClientID("sub").
		SetAutoReconnect(false).SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { ch <- m })
	sub := mqtt.NewClient(o) // one handler: paho calls a handler per matching filter
	require.True(t, sub.Connect().WaitTimeout(10*time.Second))
	t.Cleanup(func() { sub.Disconnect(0) })
	for _, f := range []string{"a/#", "a/+", "+/b"} {
		tok := sub.Subscribe(f, 1, nil)
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	pub := connect(t, nodes[0].addr, "pub", true)
	waitRoute(t, pub, "a/b", ch)
	before := nodes[1].node.Stats().Duplicates
	require.True(t, pub.Publish("a/b", 1, false, "x").WaitTimeout(10*time.Second))
	select {
	case m := <-ch:
		require.Equal(t, "x", string(m.Payload()))
	case <-time.After(10 * time.Second):
		t.Fatal("not received")
	}
	select {
	case m := <-ch:
		t.Fatalf("received twice: %s", m.Payload())
	case <-time.After(300 * time.Millisecond):
	}
	require.Greater(t, nodes[1].node.Stats().Duplicates, before, "the copies of the other filters were dropped")
}
