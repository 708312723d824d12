package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"
)

// eventRules are the rules of eventRulesConfig, one per EMQX 5 event this
// test drives: each republishes its output to ev/<name>.
var eventRules = []struct{ name, sql string }{
	{"connack", `SELECT clientid, reason_code, peername, sockname, keepalive, clean_start, expiry_interval, conn_props FROM "$events/client_connack" WHERE clientid = 'car-1'`},
	{"connected", `SELECT clientid, is_bridge, expiry_interval, conn_props.'User-Property'.model AS model, client_attrs, sockname, peername FROM "$events/client_connected" WHERE clientid = 'car-1'`},
	{"authn", `SELECT clientid, reason_code, is_anonymous, is_superuser FROM "$events/client_check_authn_complete" WHERE clientid = 'car-1'`},
	{"authz", `SELECT clientid, topic, action, result, authz_source FROM "$events/client_check_authz_complete" WHERE result = 'deny'`},
	{"message_dropped", `SELECT clientid, topic, reason FROM "$events/message_dropped" WHERE topic =~ 'nobody/#'`},
	{"subscribed", `SELECT clientid, topic, sub_props FROM "$events/session_subscribed" WHERE clientid = 'car-1'`},
	{"disconnected", `SELECT clientid, reason, connected_at, disconnected_at, disconn_props FROM "$events/client_disconnected" WHERE clientid IN ('car-1', 'parked-1')`},
	{"acked", `SELECT clientid, from_clientid, puback_props FROM "$events/message_acked" WHERE topic = 'cmd/car-2'`},
	{"delivery_dropped", `SELECT clientid, from_clientid, topic, reason FROM "$events/delivery_dropped" WHERE clientid = 'parked-1'`},
}

// eventRulesConfig is eventRules, with an ACL that denies publishing to
// forbidden/#.
func eventRulesConfig() string {
	var b strings.Builder
	b.WriteString(`
auth:
  acl:
    default: allow
    rules:
      - permission: deny
        who: {all: true}
        action: publish
        topics: ["forbidden/#"]
rules:
  list:
`)
	for _, r := range eventRules {
		// YAML single quotes: a quote inside is doubled.
		fmt.Fprintf(&b, "    - id: %s\n      sql: '%s'\n      actions: [{type: republish, topic: ev/%s, qos: 1}]\n",
			r.name, strings.ReplaceAll(r.sql, "'", "''"), r.name)
	}
	return b.String()
}

// startEventsHub starts a hub with eventRulesConfig's rules and a watcher
// (returned) subscribed to ev/#, whose messages arrive on got.
func startEventsHub(t *testing.T) (h *hub, watcher *paho.Client, got chan *paho.Publish) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "iothub.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(eventRulesConfig()), 0o600))
	h = startHub(t, nil, "--config", cfg)
	got = make(chan *paho.Publish, 16)
	watcher = pahoDeviceV5(t, h, "watcher", paho.ClientConfig{OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { got <- pr.Packet; return true, nil }}}, true)
	subscribe1(t, watcher, "ev/#")
	return h, watcher, got
}

// TestEvents_emqx5 drives the built binary with a paho MQTT 5 client and
// checks the events EMQX 5 documents that rules read (EMQX checks the same
// fields end to end in emqx_rule_engine_SUITE:t_events, verify_event_fields): CONNACK,
// authentication and authorization outcomes, a message no one subscribed
// to, and the connection's properties, addresses and times.
func TestEvents_emqx5(t *testing.T) {
	t.Parallel()
	h, _, got := startEventsHub(t)

	nc, err := net.DialTimeout("tcp", h.mqtt, 5*time.Second)
	require.NoError(t, err)
	car := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {}, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(paho.PublishReceived) (bool, error) { return true, nil }}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	expiry := uint32(600)
	_, err = car.Connect(ctx, &paho.Connect{ClientID: "car-1", CleanStart: true, KeepAlive: 45,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry, User: paho.UserProperties{{Key: "model", Value: "Y"}}}})
	require.NoError(t, err)
	events := map[string]map[string]any{}
	waitEvents(t, got, events, "ev/connack", "ev/connected", "ev/authn")

	require.Equal(t, "success", events["ev/connack"]["reason_code"])
	require.Equal(t, 45.0, events["ev/connack"]["keepalive"])
	require.Equal(t, 600.0, events["ev/connack"]["expiry_interval"])
	require.Equal(t, nc.LocalAddr().String(), events["ev/connack"]["peername"], "peername is the client's host:port")
	require.Equal(t, h.mqtt, events["ev/connack"]["sockname"], "sockname is the hub's end")
	props, _ := events["ev/connack"]["conn_props"].(map[string]any)
	require.Equal(t, 600.0, props["Session-Expiry-Interval"], "%v", props)
	require.Equal(t, map[string]any{"model": "Y"}, props["User-Property"], "%v", props)
	require.Equal(t, map[string]any{"clientid": "car-1", "is_bridge": false, "expiry_interval": 600.0, "model": "Y",
		"client_attrs": map[string]any{}, "sockname": h.mqtt, "peername": nc.LocalAddr().String()}, events["ev/connected"])
	require.Equal(t, map[string]any{"clientid": "car-1", "reason_code": "success", "is_anonymous": true, "is_superuser": false},
		events["ev/authn"])

	_, err = car.Publish(ctx, &paho.Publish{Topic: "forbidden/x", QoS: 1, Payload: []byte("no")})
	require.ErrorContains(t, err, "not authorized", "v5: PUBACK with Not authorized")
	_, err = car.Publish(ctx, &paho.Publish{Topic: "nobody/listens", QoS: 1, Payload: []byte("hello?")})
	require.NoError(t, err)
	waitEvents(t, got, events, "ev/authz", "ev/message_dropped")
	require.Equal(t, map[string]any{"clientid": "car-1", "topic": "forbidden/x", "action": "publish", "result": "deny", "authz_source": "acl"},
		events["ev/authz"])
	require.Equal(t, map[string]any{"clientid": "car-1", "topic": "nobody/listens", "reason": "no_subscribers"}, events["ev/message_dropped"])

	sid := 7
	_, err = car.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "cmd/car-1", QoS: 1}},
		Properties: &paho.SubscribeProperties{SubscriptionIdentifier: &sid, User: paho.UserProperties{{Key: "app", Value: "nav"}}}})
	require.NoError(t, err)
	waitEvents(t, got, events, "ev/subscribed")
	require.Equal(t, map[string]any{"clientid": "car-1", "topic": "cmd/car-1",
		"sub_props": map[string]any{"Subscription-Identifier": 7.0, "User-Property": map[string]any{"app": "nav"}}}, events["ev/subscribed"])

	reason := "parking"
	require.NoError(t, car.Disconnect(&paho.Disconnect{ReasonCode: 0, Properties: &paho.DisconnectProperties{ReasonString: reason}}))
	waitEvents(t, got, events, "ev/disconnected")
	d := events["ev/disconnected"]
	require.Equal(t, "normal", d["reason"])
	require.Equal(t, map[string]any{"Reason-String": "parking"}, d["disconn_props"])
	require.Greater(t, d["connected_at"], 0.0)
	require.GreaterOrEqual(t, d["disconnected_at"], d["connected_at"])
}

// TestEvents_ackedAndDeliveryDropped drives the built binary: a PUBACK's
// MQTT 5 properties reach $events/message_acked's puback_props (the
// PUBACK is written with paho's packet encoder, since paho's client sends
// none), and a QoS 0 message for a persistent session that is offline is
// $events/delivery_dropped with reason qos0_offline.
func TestEvents_ackedAndDeliveryDropped(t *testing.T) {
	t.Parallel()
	h, watcher, got := startEventsHub(t)
	events := map[string]map[string]any{}

	// car-2 speaks MQTT 5 packet by packet.
	nc, err := net.DialTimeout("tcp", h.mqtt, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(30*time.Second)))
	send := func(p io.WriterTo) {
		_, err := p.WriteTo(nc)
		require.NoError(t, err)
	}
	await := func(typ byte) *packets.ControlPacket {
		for {
			cp, err := packets.ReadPacket(nc)
			require.NoError(t, err)
			if cp.Type == typ {
				return cp
			}
		}
	}
	send(&packets.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: "car-2", CleanStart: true, KeepAlive: 30})
	require.Equal(t, byte(0), await(packets.CONNACK).Content.(*packets.Connack).ReasonCode)
	send(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.SubOptions{{Topic: "cmd/car-2", QoS: 1}}})
	await(packets.SUBACK)
	publish1(t, watcher, "cmd/car-2", []byte(`{"action":"unlock"}`))
	pub := await(packets.PUBLISH).Content.(*packets.Publish)
	send(&packets.Puback{PacketID: pub.PacketID, Properties: &packets.Properties{ReasonString: "opened",
		User: []packets.User{{Key: "result", Value: "done"}}}})
	waitEvents(t, got, events, "ev/acked")
	require.Equal(t, map[string]any{"clientid": "car-2", "from_clientid": "watcher",
		"puback_props": map[string]any{"Reason-String": "opened", "User-Property": map[string]any{"result": "done"}}}, events["ev/acked"])

	// parked-1 keeps its session for a minute, subscribes at QoS 0 and leaves.
	pc, err := net.DialTimeout("tcp", h.mqtt, 5*time.Second)
	require.NoError(t, err)
	parked := paho.NewClient(paho.ClientConfig{Conn: pc, OnClientError: func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	expiry := uint32(60)
	_, err = parked.Connect(ctx, &paho.Connect{ClientID: "parked-1", CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	require.NoError(t, err)
	_, err = parked.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "park/x", QoS: 0}}})
	require.NoError(t, err)
	require.NoError(t, parked.Disconnect(&paho.Disconnect{}))
	waitEvents(t, got, events, "ev/disconnected")
	require.Equal(t, "parked-1", events["ev/disconnected"]["clientid"])
	// Publish until the event arrives, in case the hub is still parking
	// the session when the first message comes; bounded.
	deadline := time.Now().Add(15 * time.Second)
	for events["ev/delivery_dropped"] == nil && time.Now().Before(deadline) {
		publish1(t, watcher, "park/x", []byte("lost"))
		select {
		case p := <-got:
			var m map[string]any
			require.NoError(t, json.Unmarshal(p.Payload, &m), "%s: %s", p.Topic, p.Payload)
			events[p.Topic] = m
		case <-time.After(500 * time.Millisecond):
		}
	}
	require.Equal(t, map[string]any{"clientid": "parked-1", "from_clientid": "watcher", "topic": "park/x", "reason": "qos0_offline"},
		events["ev/delivery_dropped"])
}

// waitEvents reads the watcher's messages until every topic in want has
// arrived, keeping each payload by topic.
func waitEvents(t *testing.T, got <-chan *paho.Publish, into map[string]map[string]any, want ...string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		missing := false
		for _, w := range want {
			if into[w] == nil {
				missing = true
			}
		}
		if !missing {
			return
		}
		select {
		case p := <-got:
			var m map[string]any
			require.NoError(t, json.Unmarshal(p.Payload, &m), "%s: %s", p.Topic, p.Payload)
			into[p.Topic] = m
		case <-deadline:
			t.Fatalf("events %s: got only %s", strings.Join(want, ", "), keys(into))
		}
	}
}

func keys(m map[string]map[string]any) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return strings.Join(out, ", ")
}
