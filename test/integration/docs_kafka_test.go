package integration

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// TestDocs_kafkaWalkthroughs runs the walkthroughs of docs/kafka.md as
// written — their configurations (the Kafka address substituted), the
// mosquitto_pub, mosquitto_sub and kcat commands with the page's
// arguments — and checks what the page says arrives: a message_state
// record keyed by the lock, a message_command record from backend-1 once
// the lock acknowledged, the vehicle's payload as published in
// my-vehicles, and a Kafka record reaching car-7 as an MQTT command with
// its header as a user property.
func TestDocs_kafkaWalkthroughs(t *testing.T) {
	t.Parallel()
	k := startKafka(t, "message_state", "message_command", "my-vehicles", "vehicle-commands")
	local := func(yaml string) string { return strings.ReplaceAll(yaml, "localhost:9092", k.addr) }

	t.Run("door locks", func(t *testing.T) {
		yamls := docBlocks(t, "kafka.md", "Walkthrough: door locks", "yaml")
		require.NotEmpty(t, yamls)
		h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, local(yamls[0])))
		waitState(t, h, "lock_command", "connected")
		const lock = "10083618796833171"
		out, err := mosquittoPub(t, port(h.mqtt), "-V", "mqttv5", "-i", lock, "-q", "1", "-t", "devices/"+lock+"/state",
			"-f", testutil.ScenarioPath(t, "doorlock/state.json"))
		require.NoError(t, err, out)
		sub := mosquittoSubBackground(t, h, lock, "-V", "mqttv5", "-i", lock, "-q", "1", "-t", "devices/"+lock+"/command")
		out, err = mosquittoPub(t, port(h.mqtt), "-V", "mqttv5", "-i", "backend-1", "-q", "1", "-t", "devices/"+lock+"/command",
			"-f", testutil.ScenarioPath(t, "doorlock/command.json"))
		require.NoError(t, err, out)
		sub.waitFor(t, `"action":"unlock","nonce_str"`)
		state := kcatConsume(t, k.addr, "message_state", 1)
		require.Equal(t, lock, state[0][0], "keyed by the lock id")
		require.Contains(t, state[0][2], `"topic":"devices/`+lock+`/state"`)
		command := kcatConsume(t, k.addr, "message_command", 1)
		require.Equal(t, lock, command[0][0])
		require.Contains(t, command[0][2], `"from":"backend-1"`, "one record per receiving lock, from the publisher")
	})

	t.Run("vehicles and commands", func(t *testing.T) {
		yamls := docBlocks(t, "kafka.md", "Walkthrough: vehicles", "yaml")
		require.NotEmpty(t, yamls)
		consumer := docBlocks(t, "kafka.md", "Consumer", "yaml")
		require.NotEmpty(t, consumer)
		// "Add this entry to the bridges: of vehicles.yaml"
		entry := consumer[0][strings.Index(consumer[0], "  - name:"):]
		h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, local(yamls[0]+entry)))
		waitState(t, h, "vehicles", "connected")
		waitState(t, h, "vehicle_commands", "connected")
		telemetry := testutil.ScenarioPath(t, "vehicles/telemetry.json")
		out, err := mosquittoPub(t, port(h.mqtt), "-i", "car-1", "-q", "1", "-t", "mqttx/simulate/tesla/car-1", "-f", telemetry)
		require.NoError(t, err, out)
		rec := kcatConsume(t, k.addr, "my-vehicles", 1)
		want, err := os.ReadFile(telemetry)
		require.NoError(t, err)
		require.Equal(t, "car-1", rec[0][0], "the key is the client id")
		require.Equal(t, strings.TrimSpace(string(want)), strings.TrimSpace(rec[0][2]), "value: ${payload}, the payload as published")
		waitBridge(t, h, "vehicles", "metrics", "sent", 1)

		sub := mosquittoSubBackground(t, h, "car-7", "-V", "mqttv5", "-i", "car-7", "-q", "1", "-t", "vehicles/+/command", "-F", "%t %p %P")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		kcat := exec.CommandContext(ctx, tool(t, "kcat"), "-b", k.addr, "-P", "-t", "vehicle-commands", "-K", ":", "-H", "trace=abc")
		kcat.Stdin = strings.NewReader(`car-7:{"action":"honk"}` + "\n")
		kout, err := kcat.CombinedOutput()
		require.NoError(t, err, "%s", kout)
		sub.waitFor(t, `vehicles/car-7/command {"action":"honk"} trace:abc`)
	})
}

// backgroundSub is a mosquitto_sub running until the test ends.
type backgroundSub struct{ out *syncBuffer }

// mosquittoSubBackground starts mosquitto_sub against h with args, client
// id clientID among them, and returns once the hub shows its subscription.
func mosquittoSubBackground(t *testing.T, h *hub, clientID string, args ...string) *backgroundSub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, tool(t, "mosquitto_sub"), append([]string{"-h", "localhost", "-p", port(h.mqtt)}, args...)...)
	s := &backgroundSub{out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	require.Eventually(t, func() bool {
		code, body := apiCall(t, h, "GET", "/api/v1/clients/"+clientID+"/subscriptions", apiKey, "")
		return code == 200 && strings.Contains(body, "command")
	}, 60*time.Second, 20*time.Millisecond, "mosquitto_sub never subscribed: %s", s.out.String())
	return s
}

// waitFor waits until the subscriber's output holds want.
func (s *backgroundSub) waitFor(t *testing.T, want string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(s.out.String(), want) },
		60*time.Second, 20*time.Millisecond, "mosquitto_sub never printed %q: %s", want, s.out.String())
}
