package integration

import (
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/stretchr/testify/require"
)

// mqttBridgeYAML is an mqtt bridge entry and the rule feeding it.
func mqttBridgeYAML(node, name, remote, remoteTopic, from, subscribe string) string {
	return fmt.Sprintf(`node: {name: %s}
rules:
  list:
    - id: forward_%[2]s
      sql: 'SELECT * FROM "%[5]s"'
      actions: [{type: bridge, bridge: %[2]s}]
bridges:
  - name: %[2]s
    type: mqtt
    mqtt:
      address: %[3]s
      remote_topic: %[4]s
      reconnect_max: 500ms
      subscribe: %[6]s
    producer: {send_timeout: 5s}
`, node, name, remote, remoteTopic, from, subscribe)
}

// TestMQTTBridge_edgeCentral: an edge hub forwards its devices' reports
// to a central hub under edge/<node>/; with the central stopped, 10,000
// QoS 1 reports wait in the edge's queue and arrive in order once the
// central is back on the same port; a command published on the central
// reaches the lock on the edge.
func TestMQTTBridge_edgeCentral(t *testing.T) {
	t.Parallel()
	central := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey})
	edge := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t,
		mqttBridgeYAML("edge1", "central", central.mqtt, "edge/${node}/${topic}", "devices/+/state",
			`[{filter: "cmd/edge1/#", local_topic: "devices/${suffix}/command"}]`)))
	waitState(t, edge, "central", "connected")
	col := collect(t, central.mqtt, "backend", "edge/edge1/devices/#")

	// The command path down.
	const lock = "10083618796833171"
	dev, got := commandDevice(t, edge, lock, "devices/"+lock+"/command")
	backend := pahoDeviceV5(t, central, "backend-cmd", paho.ClientConfig{}, true)
	command := testutil.Scenario(t, "doorlock/command.json")
	require.Eventually(t, func() bool { // until the bridge's subscription is in place on the central
		publish1(t, backend, "cmd/edge1/"+lock, command)
		return arrives(t, got, "devices/"+lock+"/command "+string(command))
	}, 30*time.Second, 10*time.Millisecond)

	// Central down: the edge queues; central back: all arrive, in order.
	central.stop(t)
	const n = 10000
	for i := range n {
		publish1(t, dev, "devices/"+lock+"/state", []byte(strconv.Itoa(i)))
	}
	startHubOn(t, central)
	require.Eventually(t, func() bool { return col.distinct() == n }, 120*time.Second, 100*time.Millisecond,
		"%d of %d reports reached the central", col.distinct(), n)
	next := 0
	for _, p := range col.payloads() { // first occurrences in order (a retried batch may repeat)
		v, err := strconv.Atoi(p)
		require.NoError(t, err)
		if v >= next {
			require.Equal(t, next, v, "report %d arrived before %d", v, next)
			next++
		}
	}
	require.Equal(t, n, next)
}

// TestMQTTBridge_bothWaysNoEcho: hubs A and B each bridge devices/# to
// the other; a message published on either reaches the other once and
// never comes back.
func TestMQTTBridge_bothWaysNoEcho(t *testing.T) {
	t.Parallel()
	a := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey})
	bCfg := hubConfig(t, mqttBridgeYAML("hub-b", "to_a", a.mqtt, "${topic}", "devices/#", "[]"))
	b := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", bCfg)
	aCfg := hubConfig(t, mqttBridgeYAML("hub-a", "to_b", b.mqtt, "${topic}", "devices/#", "[]"))
	a.stop(t)
	a = startHubOn(t, a, "--config", aCfg)
	waitState(t, a, "to_b", "connected")
	waitState(t, b, "to_a", "connected")
	colA := collect(t, a.mqtt, "sub-a", "devices/#")
	colB := collect(t, b.mqtt, "sub-b", "devices/#")
	pa := pahoDeviceV5(t, a, "dev-a", paho.ClientConfig{}, true)
	pb := pahoDeviceV5(t, b, "dev-b", paho.ClientConfig{}, true)

	publish1(t, pa, "devices/x/state", []byte("from-a"))
	require.Eventually(t, func() bool { return colB.distinct() == 1 }, 60*time.Second, 20*time.Millisecond)
	publish1(t, pb, "devices/y/state", []byte("from-b"))
	require.Eventually(t, func() bool { return colA.distinct() == 2 }, 60*time.Second, 20*time.Millisecond)
	// An echo of from-a would have reached A (through B's FIFO bridge)
	// before from-b; one of from-b would reach B before A's next message.
	publish1(t, pa, "devices/z/state", []byte("fin"))
	require.Eventually(t, func() bool { return colB.distinct() == 3 }, 60*time.Second, 20*time.Millisecond)
	require.Equal(t, []string{"from-a", "from-b", "fin"}, colA.payloads())
	require.Equal(t, []string{"from-a", "from-b", "fin"}, colB.payloads())
}

// commandDevice connects id to h, subscribed to filter; what it receives
// comes out of the channel as "topic payload".
func commandDevice(t *testing.T, h *hub, id, filter string) (*paho.Client, <-chan string) {
	t.Helper()
	got := make(chan string, 1)
	c := pahoDeviceV5(t, h, id, paho.ClientConfig{OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			got <- pr.Packet.Topic + " " + string(pr.Packet.Payload)
			return true, nil
		}}}, true)
	subscribe1(t, c, filter)
	return c, got
}

// arrives reports whether a message comes out of got within half a
// second (for require.Eventually), and requires it to be want.
func arrives(t *testing.T, got <-chan string, want string) bool {
	t.Helper()
	select {
	case s := <-got:
		require.Equal(t, want, s)
		return true
	case <-time.After(500 * time.Millisecond):
		return false
	}
}

// TestMQTTBridge_mosquitto: the bridge works against Mosquitto as the
// remote: reports forwarded under edge/<node>/, commands brought down.
func TestMQTTBridge_mosquitto(t *testing.T) {
	t.Parallel()
	addr := startMosquitto(t, "allow_anonymous true\n").addr

	col := collect(t, addr, "cloud", "edge/#")
	edge := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t,
		mqttBridgeYAML("edge1", "cloud", addr, "edge/${node}/${topic}", "vehicles/+/telemetry",
			`[{filter: "cmd/edge1/#", local_topic: "vehicles/${suffix}/command"}]`)))
	waitState(t, edge, "cloud", "connected")
	car, got := commandDevice(t, edge, "car-7", "vehicles/car-7/command")
	telemetry := testutil.Scenario(t, "vehicles/telemetry.json")
	publish1(t, car, "vehicles/car-7/telemetry", telemetry)
	require.Eventually(t, func() bool { return col.distinct() == 1 }, 60*time.Second, 20*time.Millisecond)
	require.Equal(t, []string{string(telemetry)}, col.payloads())

	require.Eventually(t, func() bool { // until the bridge's subscription is in place on Mosquitto
		out, err := exec.Command(tool(t, "mosquitto_pub"), "-h", "127.0.0.1", "-p", port(addr), "-q", "1",
			"-t", "cmd/edge1/car-7", "-m", `{"cmd":"honk"}`).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return arrives(t, got, `vehicles/car-7/command {"cmd":"honk"}`)
	}, 30*time.Second, 10*time.Millisecond)
}
