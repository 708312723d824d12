package cluster

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// slowV5 connects a persistent v5 session to addr that takes at most
// window messages in flight and never acknowledges them.
func slowV5(t *testing.T, addr, id string, window uint16, got chan<- *paho.Publish) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {}, EnableManualAcknowledgment: true,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(p paho.PublishReceived) (bool, error) {
			got <- p.Packet
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	expiry := uint32(600)
	_, err = c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry, ReceiveMaximum: &window}})
	require.NoError(t, err)
	_, err = c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "cmd/" + id, QoS: 1}}})
	require.NoError(t, err)
}

// resumeV5 resumes id's session on addr (acknowledging everything) and
// returns the payloads it gets.
func resumeV5(t *testing.T, addr, id string) (<-chan string, *paho.Connack) {
	t.Helper()
	got := make(chan string, 1000)
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {},
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(p paho.PublishReceived) (bool, error) {
			got <- string(p.Packet.Payload)
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	expiry := uint32(600)
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	require.NoError(t, err)
	return got, ack
}

// expectAll reads payloads until every one of want arrived (duplicates
// allowed, counted).
func expectAll(t *testing.T, got <-chan string, want []string) int {
	t.Helper()
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	dups := 0
	deadline := time.After(30 * time.Second)
	for len(missing) > 0 {
		select {
		case p := <-got:
			if !missing[p] {
				dups++
			}
			delete(missing, p)
		case <-deadline:
			t.Fatalf("%d acknowledged messages not delivered, e.g. %v", len(missing), firstKeys(missing, 5))
		}
	}
	return dups
}

func firstKeys(m map[string]bool, n int) []string {
	var out []string
	for k := range m {
		if len(out) == n {
			break
		}
		out = append(out, k)
	}
	return out
}

// publishAll publishes n QoS 1 messages to topic through pub, each one
// acknowledged, and returns their payloads.
func publishAll(t *testing.T, pub mqtt.Client, topic, prefix string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		p := prefix + strconv.Itoa(i)
		tok := pub.Publish(topic, 1, false, p)
		require.True(t, tok.WaitTimeout(30*time.Second), "PUBACK of %s", p)
		require.NoError(t, tok.Error())
		out = append(out, p)
	}
	return out
}

// testCluster_nodeLossAdoptsSessions: n3 is lost (its NATS server stops
// without a word, as in a crash) while persistent sessions homed on it
// hold acknowledged messages: one offline with a queue, one connected and
// slow with messages in flight. Another node adopts n3's sessions: the will
// of the lost connection is published once, the sessions' queues come back
// from the replicated queues, messages published while n3's sessions had no
// node wait for their adoption, and each device resumes on another node
// with every acknowledged message. Runs last: it takes a node away.
func testCluster_nodeLossAdoptsSessions(t *testing.T, nodes []*testNode) {
	wills := make(chan mqtt.Message, 10)
	watcher := connect(t, nodes[0].addr, "will-watcher", true)
	subscribe(t, watcher, "wills/#", 1, wills)

	o := mqtt.NewClientOptions().AddBroker("tcp://"+nodes[2].addr).SetClientID("lost-lock").SetCleanSession(false).
		SetAutoReconnect(false).SetWill("wills/lost-lock", "gone", 1, false)
	dev := mqtt.NewClient(o)
	require.True(t, dev.Connect().WaitTimeout(15*time.Second))
	t.Cleanup(func() { dev.Disconnect(0) })
	require.True(t, dev.Subscribe("cmd/lost-lock", 1, nil).WaitTimeout(15*time.Second))

	// An offline session with a queue and a slow one with messages in
	// flight, both on n3.
	offline := connect(t, nodes[2].addr, "queued-lock", false)
	probes := make(chan mqtt.Message, 100)
	subscribe(t, offline, "cmd/queued-lock", 1, probes)
	inflight := make(chan *paho.Publish, 100)
	slowV5(t, nodes[2].addr, "slow-lock", 4, inflight)
	pub := connect(t, nodes[0].addr, "loss-pub", true)
	waitRoute(t, pub, "cmd/queued-lock", probes, nodes...)
	offline.Disconnect(100)
	// The records and subscriptions are in the registry before the node dies.
	for _, id := range []string{"lost-lock", "queued-lock", "slow-lock"} {
		waitRecord(t, nodes[0], id, "cmd/"+id)
	}
	queued := publishAll(t, pub, "cmd/queued-lock", "q", 20)
	sent := publishAll(t, pub, "cmd/slow-lock", "s", 20)
	for range 4 {
		select {
		case <-inflight:
		case <-time.After(15 * time.Second):
			t.Fatal("the slow session got no message in flight")
		}
	}

	nodes[2].node.ns.Shutdown() // a crash as the others see it: no leave
	// Published while n3's sessions have no node: acknowledged once they
	// are adopted, and delivered.
	queued = append(queued, publishAll(t, pub, "cmd/queued-lock", "late", 3)...)
	select {
	case m := <-wills:
		require.Equal(t, "gone", string(m.Payload()))
	case <-time.After(30 * time.Second):
		t.Fatal("the lost connection's will was not published")
	}
	select {
	case m := <-wills:
		t.Fatalf("will published twice: %s", m.Payload())
	case <-time.After(time.Second):
	}
	holders := 0
	for _, n := range nodes[:2] {
		if exists, _ := n.b.HasSession("lost-lock"); exists {
			holders++
		}
	}
	require.Equal(t, 1, holders, "one node adopted the session")

	require.True(t, pub.Publish("cmd/lost-lock", 1, false, "queued-while-away").WaitTimeout(15*time.Second))
	got := make(chan mqtt.Message, 10)
	o2 := mqtt.NewClientOptions().AddBroker("tcp://" + nodes[1].addr).SetClientID("lost-lock").SetCleanSession(false).
		SetAutoReconnect(false).SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got <- m })
	back := mqtt.NewClient(o2)
	tok := back.Connect()
	require.True(t, tok.WaitTimeout(15*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { back.Disconnect(0) })
	require.True(t, tok.(*mqtt.ConnectToken).SessionPresent())
	select {
	case m := <-got:
		require.Equal(t, "queued-while-away", string(m.Payload()))
	case <-time.After(15 * time.Second):
		t.Fatal("message queued on the adopter not delivered after the resume")
	}

	// The queued and in-flight messages survived their node.
	for i, id := range []string{"queued-lock", "slow-lock"} {
		ch, ack := resumeV5(t, nodes[i].addr, id)
		require.True(t, ack.SessionPresent, id)
		want := queued
		if id == "slow-lock" {
			want = sent
		}
		dups := expectAll(t, ch, want)
		t.Logf("%s: %d messages back after the node loss, %d duplicates", id, len(want), dups)
	}
}

// waitRecord waits until the registry entry of id, as n reads it, holds
// want.
func waitRecord(t *testing.T, n *testNode, id, want string) {
	t.Helper()
	var last string
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		e, err := n.node.st.sessions.Get(ctx, registryKey(id))
		cancel()
		if err != nil {
			last = err.Error()
		} else if last = string(e.Value()); strings.Contains(last, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("registry entry of %s without %q within 15s: %s", id, want, last)
}
