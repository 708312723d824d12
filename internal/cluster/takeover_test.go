package cluster

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// connectV5 connects a paho.golang v5 client and reports the DISCONNECT the
// hub sends it on gone.
func connectV5(t *testing.T, addr, id string, gone chan<- byte) (*paho.Client, *paho.Connack, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {},
		OnServerDisconnect: func(d *paho.Disconnect) { gone <- d.ReasonCode }})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	expiry := uint32(300)
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	t.Cleanup(func() { _ = nc.Close() })
	return c, ack, err
}

func testCluster_takeoverAcrossNodes(t *testing.T, nodes []*testNode) {

	// A persistent session on n1 with a subscription, then offline.
	ch := make(chan mqtt.Message, 100)
	dev := connect(t, nodes[0].addr, "lock-1", false)
	subscribe(t, dev, "devices/lock-1/command", 1, ch)
	pub := connect(t, nodes[1].addr, "backend", true)
	waitRoute(t, pub, "devices/lock-1/command", ch, nodes...)
	dev.Disconnect(100)

	// Commands published on n2 queue in the offline session on n1.
	for i := range 3 {
		tok := pub.Publish("devices/lock-1/command", 1, false, "cmd"+strconv.Itoa(i))
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}

	// The device comes back through n3: session present, queued commands
	// delivered in order, and n1 no longer holds the session.
	got := resumeOn(t, nodes[2].addr, "lock-1")
	for i := range 3 {
		select {
		case m := <-got:
			require.Equal(t, "cmd"+strconv.Itoa(i), string(m.Payload()))
		case <-time.After(10 * time.Second):
			t.Fatalf("queued command %d not delivered after the takeover", i)
		}
	}
	exists, _ := nodes[0].b.HasSession("lock-1")
	require.False(t, exists, "the old node gave the session up")
	require.Equal(t, uint64(1), nodes[2].b.Stats().SessionsTakenIn)

	// The subscription moved too: a new command reaches the device on n3.
	require.True(t, pub.Publish("devices/lock-1/command", 1, false, "after").WaitTimeout(10*time.Second))
	select {
	case m := <-got:
		require.Equal(t, "after", string(m.Payload()))
	case <-time.After(15 * time.Second):
		t.Fatal("command after the takeover not delivered")
	}
}

func testCluster_liveTakeoverSends0x8E(t *testing.T, nodes []*testNode) {
	gone := make(chan byte, 4)
	_, _, err := connectV5(t, nodes[0].addr, "remote-1", gone)
	require.NoError(t, err)
	_, ack, err := connectV5(t, nodes[1].addr, "remote-1", make(chan byte, 1))
	require.NoError(t, err)
	require.True(t, ack.SessionPresent)
	select {
	case code := <-gone:
		require.Equal(t, byte(0x8E), code)
	case <-time.After(15 * time.Second):
		t.Fatal("the old connection got no DISCONNECT 0x8E")
	}
}

func testCluster_simultaneousConnectsOneSession(t *testing.T, nodes []*testNode) {
	const rounds = 3
	for r := range rounds {
		id := "dup-" + strconv.Itoa(r)
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, _ = connectV5(t, n.addr, id, make(chan byte, 4))
			}()
		}
		wg.Wait()
		// Exactly one node holds a connected session once the dust settles.
		testutil.Eventually(t, 20*time.Second, func() bool {
			live := 0
			for _, n := range nodes {
				if _, connected := n.b.HasSession(id); connected {
					live++
				}
			}
			return live == 1
		}, "exactly one live session for "+id)
	}
}

func testCluster_retainedEverywhere(t *testing.T, nodes []*testNode) {
	pub := connect(t, nodes[0].addr, "pub", true)
	require.True(t, pub.Publish("status/door", 1, true, "locked").WaitTimeout(10*time.Second))
	for _, n := range nodes[1:] {
		testutil.Eventually(t, 15*time.Second, func() bool {
			m, ok := n.b.Retained("status/door")
			return ok && string(m.Payload) == "locked"
		}, "retained message replicated to "+n.name)
	}
	ch := make(chan mqtt.Message, 1)
	sub := connect(t, nodes[2].addr, "late", true)
	subscribe(t, sub, "status/+", 1, ch)
	select {
	case m := <-ch:
		require.True(t, m.Retained())
		require.Equal(t, "locked", string(m.Payload()))
	case <-time.After(10 * time.Second):
		t.Fatal("retained message not sent by another node")
	}
	// Clearing on another node clears it everywhere.
	require.True(t, connect(t, nodes[1].addr, "clr", true).Publish("status/door", 1, true, "").WaitTimeout(10*time.Second))
	for _, n := range nodes {
		testutil.Eventually(t, 15*time.Second, func() bool {
			_, ok := n.b.Retained("status/door")
			return !ok
		}, "retained message cleared on "+n.name)
	}
}

// waitReady waits until every node's replicated state is usable.
func waitReady(t *testing.T, nodes []*testNode) {
	t.Helper()
	for _, n := range nodes {
		select {
		case <-n.node.st.ready:
		case <-time.After(60 * time.Second):
			require.False(t, n.node.Status().StateReady, "%s: not ready, and the status says so", n.name)
			t.Fatalf("%s: replicated state not ready within 60s", n.name)
		}
		require.True(t, n.node.Status().StateReady, "%s: the status says ready", n.name)
	}
}

// testCluster_liveTakeoverPassesLateMessagesOn: a message that reaches the
// old node after it gave the session up, while the new node has not opened
// it yet (the takeover's window, made here by a hook on the old node that
// publishes from a third node and waits until the old node got the
// message), is passed on to the new node and reaches the device; its
// publisher gets the PUBACK. Before the relay, the old node acknowledged
// it without delivering it anywhere.
func testCluster_liveTakeoverPassesLateMessagesOn(t *testing.T, nodes []*testNode) {
	ch := make(chan mqtt.Message, 100)
	dev := connect(t, nodes[0].addr, "roamer", false)
	subscribe(t, dev, "devices/roamer/command", 1, ch)
	pub := connect(t, nodes[2].addr, "roamer-backend", true)
	waitRoute(t, pub, "devices/roamer/command", ch, nodes...)

	late := make(chan mqtt.Token, 1)
	hook := func(id string) {
		if id != "roamer" {
			return
		}
		before := nodes[0].node.Stats().Received
		late <- pub.Publish("devices/roamer/command", 1, false, "late")
		// Bounded: the test fails below if the message never came here.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			if nodes[0].node.Stats().Received > before {
				return
			}
			time.Sleep(5 * time.Millisecond) // polling a counter, bounded
		}
	}
	nodes[0].takenOver.Store(&hook)
	t.Cleanup(func() { nodes[0].takenOver.Store(nil) })

	// The device comes back through n2 while n1 is up: a live takeover.
	got := resumeOn(t, nodes[1].addr, "roamer")

	var ptok mqtt.Token
	select {
	case ptok = <-late:
	case <-time.After(15 * time.Second):
		t.Fatal("the takeover hook did not run")
	}
	require.True(t, ptok.WaitTimeout(15*time.Second), "PUBACK of the message sent in the window")
	require.NoError(t, ptok.Error())
	for {
		select {
		case m := <-got:
			if string(m.Payload()) == "late" {
				require.GreaterOrEqual(t, nodes[0].node.Stats().Relayed, uint64(1))
				return
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("the message sent in the takeover's window was lost (n1 %+v)", nodes[0].node.Stats())
		}
	}
}

// resumeOn connects id to addr with its persistent session, requires
// Session Present (the session was taken over across nodes) and returns
// the messages it receives.
func resumeOn(t *testing.T, addr, id string) <-chan mqtt.Message {
	t.Helper()
	got := make(chan mqtt.Message, 100)
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(false).
		SetAutoReconnect(false).SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got <- m })
	back := mqtt.NewClient(o)
	tok := back.Connect()
	require.True(t, tok.WaitTimeout(15*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { back.Disconnect(0) })
	require.True(t, tok.(*mqtt.ConnectToken).SessionPresent(), "%s: session present after a takeover across nodes", id)
	return got
}
