package broker_test

import (
	"fmt"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// drain returns every message c received up to and including the marker on
// topic "m" (which c must be subscribed to), marker excluded.
func drain(t *testing.T, c *v5Client) []*paho.Publish {
	t.Helper()
	var got []*paho.Publish
	for {
		p := c.next(t)
		if p.Topic == "m" {
			return got
		}
		got = append(got, p)
	}
}

func TestShared_roundRobinEachMessageOnce(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	a := connectV5(t, addr, "a", nil)
	b := connectV5(t, addr, "b", nil)
	plain := connectV5(t, addr, "plain", nil)
	for _, c := range []*v5Client{a, b} {
		c.subscribe(t, paho.SubscribeOptions{Topic: "$share/g/job/+", QoS: 1}, paho.SubscribeOptions{Topic: "m", QoS: 1})
	}
	plain.subscribe(t, paho.SubscribeOptions{Topic: "job/#", QoS: 1}, paho.SubscribeOptions{Topic: "m", QoS: 1})
	pub := connectV5(t, addr, "pub", nil)
	for i := range 10 {
		pub.publish(t, &paho.Publish{Topic: "job/x", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	pub.publish(t, &paho.Publish{Topic: "m", QoS: 1, Payload: []byte("marker")})

	ga, gb := drain(t, a), drain(t, b)
	require.Len(t, ga, 5, "round robin splits evenly")
	require.Len(t, gb, 5)
	seen := map[string]bool{}
	for _, p := range append(ga, gb...) {
		require.False(t, seen[string(p.Payload)], "message %s delivered twice in the group", p.Payload)
		seen[string(p.Payload)] = true
	}
	require.Len(t, seen, 10)
	require.Len(t, drain(t, plain), 10, "a non-shared subscriber gets every message")
}

func TestShared_twoGroupsEachGetACopy(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	a := connectV5(t, addr, "a", nil)
	b := connectV5(t, addr, "b", nil)
	a.subscribe(t, paho.SubscribeOptions{Topic: "$share/g1/t", QoS: 1})
	b.subscribe(t, paho.SubscribeOptions{Topic: "$share/g2/t", QoS: 1})
	pub := connectV5(t, addr, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "t", QoS: 1, Payload: []byte("x")})
	require.Equal(t, "t", a.next(t).Topic)
	require.Equal(t, "t", b.next(t).Topic)
}

func TestShared_connectedMemberPreferred(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	ev := recordEvents(t, s)
	a := connectV5(t, addr, "a", nil)
	away := connectV5(t, addr, "away", expiryV5(300, true))
	a.subscribe(t, paho.SubscribeOptions{Topic: "$share/g/t", QoS: 1}, paho.SubscribeOptions{Topic: "m", QoS: 1})
	away.subscribe(t, paho.SubscribeOptions{Topic: "$share/g/t", QoS: 1})
	require.NoError(t, away.Disconnect(&paho.Disconnect{}))
	ev.wait(t, msg.EventClientDisconnected, "away")

	pub := connectV5(t, addr, "pub", nil)
	for i := range 6 {
		pub.publish(t, &paho.Publish{Topic: "t", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	pub.publish(t, &paho.Publish{Topic: "m", QoS: 1, Payload: []byte("marker")})
	require.Len(t, drain(t, a), 6, "the offline member gets nothing while another is connected")
	require.Equal(t, int64(0), s.Stats().Queued)
}

func TestShared_noRetainedOnSubscribe(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	pub := connectV5(t, addr, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "t", QoS: 1, Retain: true, Payload: []byte("r")})
	a := connectV5(t, addr, "a", nil)
	a.subscribe(t, paho.SubscribeOptions{Topic: "$share/g/t", QoS: 1}, paho.SubscribeOptions{Topic: "m", QoS: 1})
	marker(t, pub, a, "m") // MQTT 5 section 4.8.2: no retained messages for a shared subscription
}

func TestShared_unsubscribe(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	a := connectV5(t, addr, "a", nil)
	b := connectV5(t, addr, "b", nil)
	a.subscribe(t, paho.SubscribeOptions{Topic: "$share/g/t", QoS: 1})
	b.subscribe(t, paho.SubscribeOptions{Topic: "$share/g/t", QoS: 1}, paho.SubscribeOptions{Topic: "m", QoS: 1})
	_, err := a.Unsubscribe(t.Context(), &paho.Unsubscribe{Topics: []string{"$share/g/t"}})
	require.NoError(t, err)
	pub := connectV5(t, addr, "pub", nil)
	for range 4 {
		pub.publish(t, &paho.Publish{Topic: "t", QoS: 1, Payload: []byte("x")})
	}
	pub.publish(t, &paho.Publish{Topic: "m", QoS: 1, Payload: []byte("marker")})
	require.Len(t, drain(t, b), 4, "the remaining member gets everything")
}

func TestShared_v311Member(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	a := connectV3(t, addr, "a3", nil)
	a.sub(t, "$share/g/t3", 1)
	pub := connectV5(t, addr, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "t3", QoS: 1, Payload: []byte("x")})
	got := a.next(t)
	require.Equal(t, "t3", got.Topic())
}
