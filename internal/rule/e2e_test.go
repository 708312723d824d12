package rule_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// wait is how long a test waits for a message it expects; generous for a
// shared, slow machine.
const wait = 20 * time.Second

// startHub starts a broker with a rule runner holding rules.
func startHub(t *testing.T, rules ...rule.Rule) (*broker.Server, *rule.Runner, string) {
	t.Helper()
	s, addr := testutil.StartBroker(t, nil)
	r := rule.NewRunner(rule.Options{Publisher: s, Logger: testutil.Logger(t), DataDir: t.TempDir()})
	for _, def := range rules {
		require.NoError(t, r.AddConfigRule(def))
	}
	require.NoError(t, r.Start())
	remove := s.AddEventHandler(r)
	t.Cleanup(func() {
		remove()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, r.Close(ctx))
	})
	return s, r, addr
}

// client is a paho.golang (MQTT 5) client whose received publishes arrive
// on a channel.
type client struct {
	*paho.Client
	msgs chan *paho.Publish
}

// connect connects a client; with manualAck its QoS 1 messages are
// acknowledged only by client.Ack.
func connect(t *testing.T, addr, id string, manualAck bool, configure func(*paho.Connect)) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	c := &client{msgs: make(chan *paho.Publish, 100)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		EnableManualAcknowledgment: manualAck,
		SendAcksInterval:           10 * time.Millisecond,
		OnClientError:              func(error) {},
	})
	cp := &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
	if configure != nil {
		configure(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err = c.Connect(ctx, cp)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

func (c *client) subscribe(t *testing.T, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	require.NoError(t, err)
}

func (c *client) publish(t *testing.T, topic string, qos byte, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: payload})
	require.NoError(t, err)
}

func (c *client) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case p := <-c.msgs:
		return p
	case <-time.After(wait):
		t.Fatal("no message within", wait)
		return nil
	}
}

// The door-lock monitoring rule: a state with a low battery raises an
// alarm on alarms/{clientid}; a normal one does not.
func TestE2E_doorLockLowBattery(t *testing.T) {
	_, _, addr := startHub(t, rule.Rule{
		ID:      "door_lock_low_battery",
		SQL:     `SELECT clientid, payload.battery AS battery FROM "devices/+/state" WHERE payload.battery < 20`,
		Enabled: true,
		Actions: []rule.ActionSpec{{"type": "republish", "topic": "alarms/${clientid}", "qos": 1,
			"payload": `{"lock":"${clientid}","battery":${battery},"action":"${payload.action}"}`}},
	})
	monitor := connect(t, addr, "monitoring", false, nil)
	monitor.subscribe(t, "alarms/#", 1)

	const id = "10083618796833171"
	lock := connect(t, addr, id, false, nil)
	state := testutil.Scenario(t, "doorlock/state.json") // battery 83.4
	low := []byte(strings.Replace(string(state), `"battery":83.4`, `"battery":15.5`, 1))
	require.NotEqual(t, state, low)
	lock.publish(t, "devices/"+id+"/state", 1, state)
	lock.publish(t, "devices/"+id+"/state", 1, low)

	// Outputs keep the publisher's order, so the first alarm is the low
	// battery's: the normal state raised none.
	got := monitor.next(t)
	require.Equal(t, "alarms/"+id, got.Topic)
	require.Equal(t, byte(1), got.QoS)
	require.JSONEq(t, `{"lock":"`+id+`","battery":15.5,"action":"unlock"}`, string(got.Payload))
}

// Acked events fire after the receiver's PUBACK, once per receiver, with
// the receiver as clientid and the publisher as from_clientid: the Kafka
// record of the door-lock command flow.
func TestE2E_ackedCommandOncePerReceiver(t *testing.T) {
	_, r, addr := startHub(t, rule.Rule{
		ID: "command_acked",
		SQL: "SELECT clientid AS client_id, username, from_clientid AS `from`, topic, " +
			"base64_encode(payload) AS payload, qos, node, timestamp AS ts " +
			`FROM "$events/message_acked" WHERE topic =~ 'devices/+/command'`,
		Enabled: true,
		Actions: []rule.ActionSpec{{"type": "republish", "topic": "audit/acked/${client_id}", "qos": 1}},
	})
	audit := connect(t, addr, "audit", false, nil)
	audit.subscribe(t, "audit/#", 1)
	slow := connect(t, addr, "lock-slow", true, nil) // acknowledges by hand
	slow.subscribe(t, "devices/group-1/command", 1)
	fast := connect(t, addr, "lock-fast", false, nil)
	fast.subscribe(t, "devices/group-1/command", 1)

	backend := connect(t, addr, "backend", false, nil)
	cmd := testutil.Scenario(t, "doorlock/command.json")
	backend.publish(t, "devices/group-1/command", 1, cmd)

	rec := audit.next(t)
	require.Equal(t, "audit/acked/lock-fast", rec.Topic)
	var v map[string]any
	require.NoError(t, json.Unmarshal(rec.Payload, &v))
	require.Equal(t, "lock-fast", v["client_id"])
	require.Equal(t, "backend", v["from"])
	require.Equal(t, "devices/group-1/command", v["topic"])
	require.Equal(t, float64(1), v["qos"])
	require.NotEmpty(t, v["node"])
	require.NotZero(t, v["ts"])
	require.Equal(t, "eyJwcm9jZXNzX2lkIjoiNzgwMjQ0MTUyNTUyODk1OCIsImFjdGlvbiI6InVubG9jayIsIm5vbmNlX3N0ciI6InU3dTRwMG44IiwidHMiOjE1NzQ3NDQ0MzQsInNpZ24iOiJlOWY1YWY3ZGVhYTI4NTYzIn0=",
		v["payload"], "the payload of the sample Kafka record")

	// The slow lock has its command but has not acknowledged it: no event.
	got := slow.next(t)
	m, err := r.Metrics("command_acked")
	require.NoError(t, err)
	require.Equal(t, uint64(1), m.Matched, "acked before the receiver's PUBACK")

	require.NoError(t, slow.Ack(got))
	rec = audit.next(t)
	require.Equal(t, "audit/acked/lock-slow", rec.Topic)
	testutil.Eventually(t, wait, func() bool {
		m, _ := r.Metrics("command_acked")
		return m.ActionsSuccess == 2
	}, "two acked records")
	m, _ = r.Metrics("command_acked")
	require.Equal(t, uint64(2), m.Matched, "once per receiver")
}

// Client connected and disconnected events, with their fields.
func TestE2E_clientEvents(t *testing.T) {
	_, _, addr := startHub(t, rule.Rule{
		ID: "presence",
		SQL: `SELECT event, clientid, username, proto_ver, keepalive, reason, peerhost
		      FROM "$events/client_connected", "$events/client_disconnected" WHERE clientid = 'dev-9'`,
		Enabled: true,
		Actions: []rule.ActionSpec{{"type": "republish", "topic": "presence/${clientid}/${event}", "qos": 1}},
	})
	monitor := connect(t, addr, "monitor", false, nil)
	monitor.subscribe(t, "presence/#", 1)

	dev := connect(t, addr, "dev-9", false, func(cp *paho.Connect) {
		cp.KeepAlive = 45
		cp.Username, cp.UsernameFlag = "alice", true
	})
	got := monitor.next(t)
	require.Equal(t, "presence/dev-9/client.connected", got.Topic)
	require.JSONEq(t, `{"event":"client.connected","clientid":"dev-9","username":"alice","proto_ver":5,
		"keepalive":45,"reason":null,"peerhost":"127.0.0.1"}`, string(got.Payload))

	require.NoError(t, dev.Disconnect(&paho.Disconnect{}))
	got = monitor.next(t)
	require.Equal(t, "presence/dev-9/client.disconnected", got.Topic)
	require.JSONEq(t, `{"event":"client.disconnected","clientid":"dev-9","username":"alice","proto_ver":5,
		"keepalive":null,"reason":"normal","peerhost":"127.0.0.1"}`, string(got.Payload))
}

// FOREACH fans one message out into one republish per array element.
func TestE2E_foreach(t *testing.T) {
	_, _, addr := startHub(t, rule.Rule{
		ID: "hot_sensors",
		SQL: `FOREACH payload.sensors AS s DO s.name AS name, s.temp AS temp, payload.site AS site
		      INCASE s.temp > 20 FROM "factory/+/sensors"`,
		Enabled: true,
		Actions: []rule.ActionSpec{{"type": "republish", "topic": "alarms/${site}/${name}", "payload": "${temp}"}},
	})
	sub := connect(t, addr, "ops", false, nil)
	sub.subscribe(t, "alarms/#", 0)
	pub := connect(t, addr, "gw-1", false, nil)
	pub.publish(t, "factory/f1/sensors", 1,
		[]byte(`{"site":"f1","sensors":[{"name":"t1","temp":25.5},{"name":"t2","temp":18},{"name":"t3","temp":30}]}`))
	for _, want := range []struct{ topic, payload string }{{"alarms/f1/t1", "25.5"}, {"alarms/f1/t3", "30"}} {
		got := sub.next(t)
		require.Equal(t, want.topic, got.Topic)
		require.Equal(t, want.payload, string(got.Payload))
	}
}
