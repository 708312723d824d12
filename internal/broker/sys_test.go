package broker_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
)

func TestSys_publishedAndOnlyMatchedExplicitly(t *testing.T) {
	const prefix = "$SYS/brokers/node1/"
	_, addr := testutil.StartBroker(t, func(o *broker.Options) {
		o.NodeName = "node1"
		o.SysInterval = 20 * time.Millisecond
	})
	// Routing delivers to matching clients in client id order, so "a-hash"
	// is served before "z-sys" for every message.
	sys := connectV5(t, addr, "z-sys", nil)
	sys.subscribe(t, paho.SubscribeOptions{Topic: "$SYS/#", QoS: 0})
	seen := map[string]string{}
	for len(seen) < 12 {
		p := sys.next(t)
		require.True(t, strings.HasPrefix(p.Topic, prefix), p.Topic)
		seen[strings.TrimPrefix(p.Topic, prefix)] = string(p.Payload)
	}
	for _, name := range []string{"version", "uptime", "clients/connected", "clients/total", "messages/received", "bytes/sent"} {
		require.Contains(t, seen, name)
	}
	require.Equal(t, broker.Version, seen["version"])

	// $SYS messages are retained by now: "#" must not get them on
	// subscribe, nor live.
	hash := connectV5(t, addr, "a-hash", nil)
	hash.subscribe(t, paho.SubscribeOptions{Topic: "#", QoS: 0})
	pub := connectV5(t, addr, "pub", nil)
	// Wait for a $SYS message computed after pub connected: it was routed
	// after "#" was subscribed, and to a-hash before z-sys.
	for {
		p := sys.next(t)
		if p.Topic == prefix+"clients/connected" && !p.Retain {
			if n, _ := strconv.Atoi(string(p.Payload)); n == 3 {
				break
			}
		}
	}
	pub.publish(t, &paho.Publish{Topic: "m", QoS: 1, Payload: []byte("marker")})
	got := hash.next(t)
	require.Equal(t, "m", got.Topic, "a leading # does not match $SYS topics; got %q", got.Topic)

	late := connectV5(t, addr, "late", nil)
	late.subscribe(t, paho.SubscribeOptions{Topic: "$SYS/brokers/+/version", QoS: 0})
	got = late.next(t)
	require.True(t, got.Retain, "$SYS topics are retained")
	require.Equal(t, prefix+"version", got.Topic)
}
