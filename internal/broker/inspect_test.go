package broker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// DiscardSession ends an offline persistent session (its queued command
// is answered dropped) and refuses a connected one.
func TestDiscardSession(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	require.ErrorIs(t, s.DiscardSession("nobody"), broker.ErrNoSession)
	connectV5(t, addr, "online", nil)
	require.ErrorIs(t, s.DiscardSession("online"), broker.ErrConnected)

	ch := queuedCommand(t, s, addr, "lock-9")
	ci, ok := s.Client("lock-9")
	require.True(t, ok)
	require.Equal(t, 1, ci.Queued)
	require.NoError(t, s.DiscardSession("lock-9"))
	_, ok = s.Client("lock-9")
	require.False(t, ok)
	require.Equal(t, broker.StatusDropped, nextStep(t, ch).Status)
}

// A session's queue high-water mark stays after the queue drained.
func TestClient_queuePeak(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	queuedCommand(t, s, addr, "peak-1")
	for range 2 {
		out, _, err := s.SendToClient(context.Background(), "peak-1", &msg.Message{Topic: "devices/peak-1/command", Payload: []byte("y"), QoS: 1})
		require.NoError(t, err)
		require.Equal(t, broker.OutcomeQueued, out)
	}
	ci, ok := s.Client("peak-1")
	require.True(t, ok)
	require.Equal(t, 3, ci.Queued)
	require.Equal(t, 3, ci.QueuedPeak)

	dev := connectV5(t, addr, "peak-1", persistentV5)
	for range 3 {
		dev.next(t)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		ci, _ = s.Client("peak-1")
		return ci.Queued == 0 && ci.Inflight == 0
	}, "queue drained")
	require.Equal(t, 3, ci.QueuedPeak)
}

// The dashboard's filters: substring search, protocol, address, backlog
// and drops.
func TestClients_filters(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	connectV5(t, addr, "Lock-A1", nil)
	connectV3(t, addr, "lock-b2", nil)
	queuedCommand(t, s, addr, "queue-c3")
	ids := func(q broker.ClientQuery) []string {
		q.Limit = 10
		page, _ := s.Clients(q)
		out := []string{}
		for _, c := range page {
			out = append(out, c.ClientID)
		}
		return out
	}
	require.Equal(t, []string{"Lock-A1", "lock-b2"}, ids(broker.ClientQuery{Search: "LOCK"}))
	require.Equal(t, []string{"lock-b2"}, ids(broker.ClientQuery{Protocol: "3.1.1"}))
	require.Equal(t, []string{"Lock-A1", "lock-b2"}, ids(broker.ClientQuery{Address: "127.0.0.1"}))
	require.Equal(t, []string{"queue-c3"}, ids(broker.ClientQuery{MinQueued: 1}))
	require.Empty(t, ids(broker.ClientQuery{MinDropped: 1}))
	out, _, err := s.SendToClient(context.Background(), "queue-c3", &msg.Message{Topic: "x", QoS: 0})
	require.NoError(t, err)
	require.Equal(t, broker.OutcomeDropped, out, "QoS 0 is not queued offline")
	require.Equal(t, []string{"queue-c3"}, ids(broker.ClientQuery{MinDropped: 1}))

	require.NoError(t, s.DiscardSession("queue-c3"))
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Dropped["session_ended"] >= 1 }, "drop counted")
}

// Paging through the clients with the cursor yields every client once, in
// client id order, whatever the order of the registry.
func TestClients_pagingInOrder(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	var want []string
	for _, n := range rand.Perm(23) {
		id := fmt.Sprintf("dev-%02d", n)
		want = append(want, id)
		connectV5(t, addr, id, nil)
	}
	slices.Sort(want)
	var got []string
	q := broker.ClientQuery{Limit: 5}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, more := s.Clients(q)
		for _, c := range page {
			got = append(got, c.ClientID)
		}
		if !more {
			break
		}
		require.Len(t, page, 5)
		q.After = page[len(page)-1].ClientID
	}
	require.Equal(t, want, got)
	page, more := s.Clients(broker.ClientQuery{Limit: 3, Search: "-1"})
	require.True(t, more)
	require.Equal(t, []string{"dev-10", "dev-11", "dev-12"}, []string{page[0].ClientID, page[1].ClientID, page[2].ClientID})
}

// Paging through the subscriptions with the cursor yields every matching
// subscription once, ordered by client id then filter, whatever the order
// of the registry, a page boundary falling inside a client's filters.
func TestSubscriptions_pagingInOrder(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	type key struct{ client, filter string }
	var want, wantTopic []key
	for _, n := range rand.Perm(7) {
		id := fmt.Sprintf("sub-%02d", n)
		connectV5(t, addr, id, nil)
		for f := range n%3 + 2 {
			filter := fmt.Sprintf("devices/%s/f%d", id, f)
			if f == 1 {
				filter = "devices/+/f1"
				wantTopic = append(wantTopic, key{id, filter})
			}
			_, err := s.SubscribeClient(id, filter, broker.SubscribeOptions{QoS: 1})
			require.NoError(t, err)
			want = append(want, key{id, filter})
		}
	}
	_, err := s.SubscribeClient("sub-03", "$share/g/devices/+/f1", broker.SubscribeOptions{QoS: 1})
	require.NoError(t, err)
	want = append(want, key{"sub-03", "$share/g/devices/+/f1"})
	wantTopic = append(wantTopic, key{"sub-03", "$share/g/devices/+/f1"})
	order := func(a, b key) int { return strings.Compare(a.client+"\x00"+a.filter, b.client+"\x00"+b.filter) }
	slices.SortFunc(want, order)
	slices.SortFunc(wantTopic, order)
	walk := func(q broker.SubscriptionQuery) []key {
		var got []key
		for pages := 0; ; pages++ {
			require.Less(t, pages, 30)
			page, more := s.Subscriptions(q)
			for _, si := range page {
				got = append(got, key{si.ClientID, si.Filter})
			}
			if !more {
				return got
			}
			require.Len(t, page, q.Limit)
			q.AfterClientID, q.AfterFilter = page[len(page)-1].ClientID, page[len(page)-1].Filter
		}
	}
	require.Equal(t, want, walk(broker.SubscriptionQuery{Limit: 3}))
	require.Equal(t, wantTopic, walk(broker.SubscriptionQuery{Limit: 2, Topic: "devices/any/f1"}))
	one := walk(broker.SubscriptionQuery{Limit: 1, ClientID: "sub-05"})
	require.Len(t, one, 5%3+2)
}

// A connected client's details carry its will and MQTT 5 CONNECT
// properties as the client sent them; a client with neither carries
// none, and the list leaves them out.
func TestClient_willAndConnectProperties(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	connectV5(t, addr, "lock-7", func(cp *paho.Connect) {
		cp.WillMessage = &paho.WillMessage{Topic: "devices/lock-7/status", QoS: 1, Retain: true, Payload: []byte(`{"online":false}`)}
		// paho.golang v0.23 packs will properties as CONNECT ones and so
		// leaves out the expiry and content type (the browser test sends
		// them with mosquitto_sub).
		cp.WillProperties = &paho.WillProperties{WillDelayInterval: ptr[uint32](30)}
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: ptr[uint32](3600), ReceiveMaximum: ptr[uint16](10),
			MaximumPacketSize: ptr[uint32](65536), TopicAliasMaximum: ptr[uint16](5), RequestResponseInfo: true,
			User: paho.UserProperties{{Key: "model", Value: "L7"}, {Key: "fw", Value: "1.2"}}}
	})
	connectV3(t, addr, "plain-3", nil)

	ci, ok := s.Client("lock-7")
	require.True(t, ok)
	require.Equal(t, &broker.WillInfo{Topic: "devices/lock-7/status", QoS: 1, Retain: true, DelaySeconds: 30, PayloadSize: 16}, ci.Will)
	require.Equal(t, &broker.ConnectProperties{SessionExpiry: 3600, HasSessionExpiry: true, ReceiveMaximum: 10,
		MaximumPacketSize: 65536, TopicAliasMaximum: 5, RequestResponseInfo: true, HasRequestProblemInfo: true, // paho sends 0
		UserProperties: []msg.UserProperty{{Key: "model", Value: "L7"}, {Key: "fw", Value: "1.2"}}}, ci.ConnectProperties)

	ci, ok = s.Client("plain-3")
	require.True(t, ok)
	require.Nil(t, ci.Will)
	require.Nil(t, ci.ConnectProperties)

	page, _ := s.Clients(broker.ClientQuery{Limit: 10})
	require.Len(t, page, 2)
	for _, c := range page {
		require.Nil(t, c.Will, "a list leaves the details out")
	}
}

func ptr[T any](v T) *T { return &v }
