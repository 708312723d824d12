package integration

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// homeSubs are persistent subscribers whose sessions live on one node:
// one offline (its messages queue there) and one connected that never
// acknowledges (its messages stay in flight, up to its Receive Maximum,
// and queue behind).
type homeSubs struct {
	ids []string
}

// homeSessions sets up the two sessions on h, subscribed to filter.
func homeSessions(t *testing.T, h *clusterHub, filter string) *homeSubs {
	t.Helper()
	offline := pahoClient(t, h.mqtt, "home-queued", false, nil)
	pahoSubscribe(t, offline, filter, 1)
	offline.Disconnect(100)

	nc, err := net.DialTimeout("tcp", h.mqtt, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	slow := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {}, EnableManualAcknowledgment: true,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(paho.PublishReceived) (bool, error) { return true, nil }}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	expiry, window := uint32(600), uint16(10)
	_, err = slow.Connect(ctx, &paho.Connect{ClientID: "home-slow", CleanStart: false, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry, ReceiveMaximum: &window}})
	require.NoError(t, err)
	_, err = slow.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	require.NoError(t, err)
	return &homeSubs{ids: []string{"home-queued", "home-slow"}}
}

// resumeThrough resumes id's session through addr (the load balancer),
// acknowledging everything, and sends the payloads it gets to the
// returned channel. A refused CONNECT (the cluster still electing) is
// tried again, bounded.
func resumeThrough(t *testing.T, addr, id string) <-chan string {
	t.Helper()
	got := make(chan string, 20000)
	deadline := time.Now().Add(60 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {},
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(p paho.PublishReceived) (bool, error) {
				got <- string(p.Packet.Payload)
				return true, nil
			}}})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		expiry := uint32(600)
		ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
		cancel()
		if err == nil {
			require.True(t, ack.SessionPresent, "%s resumed its session", id)
			t.Cleanup(func() { _ = nc.Close() })
			return got
		}
		_ = nc.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s could not resume its session within 60s: %v", id, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// expectAcked reads payloads from got until every acknowledged one
// arrived; it returns the duplicates seen. Probes are skipped.
func expectAcked(t *testing.T, who string, got <-chan string, acked *sync.Map, total int) int {
	t.Helper()
	seen := map[string]int{}
	dups := 0
	deadline := time.After(60 * time.Second)
	for missing := total; missing > 0; {
		select {
		case p := <-got:
			if p == "probe" {
				continue
			}
			if seen[p]++; seen[p] == 1 {
				if _, ok := acked.Load(p); ok {
					missing--
				}
			} else {
				dups++
			}
		case <-deadline:
			var lost []string
			acked.Range(func(k, _ any) bool {
				if seen[k.(string)] == 0 {
					lost = append(lost, k.(string))
				}
				return len(lost) < 10
			})
			t.Fatalf("%s: %d acknowledged messages lost, e.g. %v", who, missing, lost)
		}
	}
	return dups
}

// mqttPayloads adapts a paho.mqtt.golang message channel to payloads.
func mqttPayloads(in <-chan mqtt.Message) <-chan string {
	out := make(chan string, cap(in))
	go func() {
		for m := range in {
			out <- string(m.Payload())
		}
	}()
	return out
}

// reconnectThrough connects a clean publisher id through addr (the load
// balancer) again after its node went, trying until deadline: a CONNECT
// may be refused (Server unavailable) while the cluster's replicated state
// elects a new leader. nil when the deadline passed.
func reconnectThrough(t *testing.T, addr, id string, deadline time.Time) mqtt.Client {
	t.Helper()
	for time.Now().Before(deadline) {
		o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(true).
			SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetKeepAlive(30 * time.Second)
		c := mqtt.NewClient(o)
		tok := c.Connect()
		if tok.WaitTimeout(15*time.Second) && tok.Error() == nil {
			t.Cleanup(func() { c.Disconnect(0) })
			return c
		}
		time.Sleep(200 * time.Millisecond) // HAProxy's health check takes a stopped node out
	}
	return nil
}

// publishUntilAcked publishes payload on topic through *c at QoS 1 until a
// PUBACK comes, each try bounded by wait. After a try without one (the
// node stopped, died or refused) it reconnects *c through the load
// balancer lb as id, counting in reconnects, and sends the same message
// again. It returns false when stop closes (nil: never), or, failing the
// test, when giveUp passes first.
func publishUntilAcked(t *testing.T, c *mqtt.Client, lb, id, topic, payload string, wait time.Duration, giveUp time.Time,
	reconnects *atomic.Int64, stop <-chan struct{}) bool {
	for {
		tok := (*c).Publish(topic, 1, false, payload)
		if tok.WaitTimeout(wait) && tok.Error() == nil {
			return true
		}
		if time.Now().After(giveUp) {
			t.Errorf("%s: %s not acknowledged in time", id, payload)
			return false
		}
		reconnects.Add(1)
		(*c).Disconnect(0)
		if *c = reconnectThrough(t, lb, id, giveUp); *c == nil {
			t.Errorf("%s: no connection through HAProxy in time", id)
			return false
		}
		select {
		case <-stop:
			return false
		default:
		}
	}
}
