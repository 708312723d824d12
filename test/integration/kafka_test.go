package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaServer is a kfake cluster on a fixed loopback port whose data
// survives a stop (DataDir), so that "Kafka down, Kafka back" keeps the
// records produced before.
type kafkaServer struct {
	addr       string
	dir        string
	partitions int32 // of the seeded topics (2 unless set before start)
	c          *kfake.Cluster
}

func startKafka(t *testing.T, topics ...string) *kafkaServer {
	t.Helper()
	return startKafkaPartitions(t, 2, topics...)
}

// startKafkaPartitions starts kfake with topics of the given partitions.
func startKafkaPartitions(t *testing.T, partitions int32, topics ...string) *kafkaServer {
	t.Helper()
	k := &kafkaServer{addr: freePort(t), dir: t.TempDir(), partitions: partitions}
	k.start(t, topics...)
	t.Cleanup(k.stop)
	return k
}

func (k *kafkaServer) start(t *testing.T, topics ...string) {
	t.Helper()
	_, port, err := net.SplitHostPort(k.addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	var c *kfake.Cluster
	require.Eventually(t, func() bool { // the port may linger a moment after a stop
		c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(p), kfake.DataDir(k.dir),
			kfake.SeedTopics(k.partitions, topics...), kfake.AllowAutoTopicCreation())
		return err == nil
	}, 30*time.Second, 50*time.Millisecond, "kfake on %s: %v", k.addr, err)
	k.c = c
}

func (k *kafkaServer) stop() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// record is a consumed Kafka record.
type record struct {
	Key, Value string
	Time       time.Time
	Headers    map[string]string
}

// consume reads topic from the start until n distinct records (by key and
// value) arrived.
func consume(t *testing.T, addr, topic string, n int) []record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var out []record
	seen := map[string]bool{}
	for len(seen) < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "%d of %d records on %s", len(seen), n, topic)
		fs.EachRecord(func(r *kgo.Record) {
			rec := record{Key: string(r.Key), Value: string(r.Value), Time: r.Timestamp, Headers: map[string]string{}}
			for _, h := range r.Headers {
				rec.Headers[h.Key] = string(h.Value)
			}
			out = append(out, rec)
			seen[rec.Key+"\x00"+rec.Value] = true
		})
	}
	return out
}

// kcatConsume reads n records of topic with Debian's kcat: key, timestamp
// (ms) and value, tab-separated.
func kcatConsume(t *testing.T, addr, topic string, n int) [][3]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool(t, "kcat"), "-b", addr, "-C", "-t", topic, "-o", "beginning",
		"-c", strconv.Itoa(n), "-f", "%k\t%T\t%s\n").Output()
	require.NoError(t, err, "kcat -C")
	var recs [][3]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(l, "\t", 3)
		require.Len(t, f, 3, "kcat line %q", l)
		recs = append(recs, [3]string{f[0], f[1], f[2]})
	}
	return recs
}

// hubConfig writes a config file and returns its path.
func hubConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "iothub.yaml")
	require.NoError(t, os.WriteFile(p, []byte(yaml), 0o600))
	return p
}

// bridgeYAML is a kafka_producer bridge entry.
func bridgeYAML(name, addr, topic, extra string) string {
	return fmt.Sprintf(`  - name: %s
    type: kafka_producer
    kafka:
      bootstrap_servers: [%q]
    producer:
      topic: %s
      send_timeout: 2s
%s`, name, addr, topic, extra)
}

// ruleToBridge is a rules section of one rule, id, that sends what sql
// selects to bridge, then the "bridges:" key: the caller appends the list.
func ruleToBridge(id, sql, bridge string) string {
	return fmt.Sprintf(`rules:
  list:
    - id: %s
      sql: '%s'
      actions: [{type: bridge, bridge: %s}]
bridges:
`, id, sql, bridge)
}

const apiKey = "integration-test-key-0123456789"

// bridgeGet returns GET /api/v1/bridges/{name}/{what} decoded.
func bridgeGet(t *testing.T, h *hub, name, what string) map[string]any {
	t.Helper()
	code, body := apiCall(t, h, "GET", "/api/v1/bridges/"+name+"/"+what, apiKey, "")
	require.Equal(t, 200, code, body)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	return m
}

func waitBridge(t *testing.T, h *hub, name, what, field string, want float64) {
	t.Helper()
	require.Eventually(t, func() bool {
		v, _ := bridgeGet(t, h, name, what)[field].(float64)
		return v == want
	}, 120*time.Second, 100*time.Millisecond, "bridge %s %s.%s never reached %v: %v", name, what, field, want, bridgeGet(t, h, name, what))
}

func waitState(t *testing.T, h *hub, name, state string) map[string]any {
	t.Helper()
	var st map[string]any
	require.Eventually(t, func() bool {
		st = bridgeGet(t, h, name, "status")
		return st["state"] == state
	}, 60*time.Second, 100*time.Millisecond, "bridge %s never %s", name, state)
	return st
}

// keysInOrder returns the top-level keys of a JSON object, in order.
func keysInOrder(t *testing.T, s string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

// pahoDeviceV5 connects a paho.golang client with options.
func pahoDeviceV5(t *testing.T, h *hub, id string, cfg paho.ClientConfig, clean bool) *paho.Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", h.mqtt, 5*time.Second)
	require.NoError(t, err)
	cfg.Conn = nc
	if cfg.OnClientError == nil {
		cfg.OnClientError = func(error) {}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

func publish1(t *testing.T, c *paho.Client, topic string, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	require.NoError(t, err)
}

// TestKafka_doorLock: a lock publishes its state and acknowledges a
// command; message_state gets one record per PUBLISH, message_command one
// per receiving lock and only after its PUBACK; the record values have
// the example files' fields, in their order, read back with franz-go and
// with kcat.
func TestKafka_doorLock(t *testing.T) {
	t.Parallel()
	k := startKafka(t, "message_state", "message_command")
	cfg := hubConfig(t, `rules:
  list:
    - id: lock_state
      sql: 'SELECT clientid AS client_id, username, topic, base64_encode(payload) AS payload, qos, node, timestamp AS ts FROM "devices/+/state"'
      actions: [{type: bridge, bridge: lock_state}]
    - id: lock_command
      sql: 'SELECT clientid AS client_id, username, from_clientid AS `+"`from`"+`, topic, base64_encode(payload) AS payload, qos, node, timestamp AS ts FROM "$events/message_acked" WHERE topic =~ ''devices/+/command'''
      actions: [{type: bridge, bridge: lock_command}]
bridges:
`+bridgeYAML("lock_state", k.addr, "message_state", "")+bridgeYAML("lock_command", k.addr, "message_command", ""))
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", cfg)
	waitState(t, h, "lock_state", "connected")

	const lock, lock2, backend = "10083618796833171", "10083618796833172", "backend-1"
	state, command := testutil.Scenario(t, "doorlock/state.json"), testutil.Scenario(t, "doorlock/command.json")
	acks := make(chan func() error, 4)
	received := make(chan string, 4)
	var locks []*paho.Client
	for _, id := range []string{lock, lock2} {
		c := pahoDeviceV5(t, h, id, paho.ClientConfig{EnableManualAcknowledgment: true}, true)
		c.AddOnPublishReceived(func(pr paho.PublishReceived) (bool, error) {
			received <- pr.Client.ClientID()
			p := pr.Packet
			acks <- func() error { return pr.Client.Ack(p) }
			return true, nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/" + lock + "/command", QoS: 1}}})
		cancel()
		require.NoError(t, err)
		locks = append(locks, c)
	}
	before := time.Now().UnixMilli()
	publish1(t, locks[0], "devices/"+lock+"/state", state)
	be := pahoDeviceV5(t, h, backend, paho.ClientConfig{}, true)
	publish1(t, be, "devices/"+lock+"/command", command)
	<-received
	<-received
	// Delivered but not acknowledged: nothing for message_command yet.
	waitBridge(t, h, "lock_state", "metrics", "sent", 1)
	require.EqualValues(t, 0, bridgeGet(t, h, "lock_command", "metrics")["matched"])
	for range 2 {
		require.NoError(t, (<-acks)())
	}
	waitBridge(t, h, "lock_command", "metrics", "sent", 2)
	after := time.Now().UnixMilli()

	check := func(value, example string, from string, clientID string) {
		t.Helper()
		require.Equal(t, keysInOrder(t, string(testutil.Scenario(t, example))), keysInOrder(t, value), value)
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(value), &v))
		require.Equal(t, clientID, v["client_id"])
		require.Equal(t, "", v["username"])
		require.EqualValues(t, 1, v["qos"])
		require.Equal(t, "iothub@127.0.0.1", v["node"])
		ts := int64(v["ts"].(float64))
		require.True(t, ts >= before && ts <= after, "ts %d not in [%d, %d]", ts, before, after)
		if from != "" {
			require.Equal(t, from, v["from"])
			require.Equal(t, "devices/"+lock+"/command", v["topic"])
			require.Equal(t, base64.StdEncoding.EncodeToString(command), v["payload"])
		} else {
			require.Equal(t, "devices/"+lock+"/state", v["topic"])
			require.Equal(t, base64.StdEncoding.EncodeToString(state), v["payload"])
		}
	}
	st := consume(t, k.addr, "message_state", 1)
	require.Len(t, st, 1)
	require.Equal(t, lock, st[0].Key)
	check(st[0].Value, "doorlock/kafka-message_state.example.json", "", lock)
	cmds := consume(t, k.addr, "message_command", 2)
	require.Len(t, cmds, 2)
	got := map[string]bool{}
	for _, r := range cmds {
		got[r.Key] = true
		check(r.Value, "doorlock/kafka-message_command.example.json", backend, r.Key)
	}
	require.Equal(t, map[string]bool{lock: true, lock2: true}, got, "one record per receiving lock")

	// The same records through kcat, an independent consumer.
	kc := kcatConsume(t, k.addr, "message_state", 1)
	require.Equal(t, lock, kc[0][0])
	require.Equal(t, st[0].Value, kc[0][2])
	require.Len(t, kcatConsume(t, k.addr, "message_command", 2), 2)
}

// TestKafka_vehicles: SELECT payload FROM "mqttx/simulate/#" → my-vehicles
// with the payload as published, the client id as key and the publish
// time as timestamp.
func TestKafka_vehicles(t *testing.T) {
	t.Parallel()
	k := startKafka(t, "my-vehicles")
	cfg := hubConfig(t, ruleToBridge("vehicles", `SELECT payload FROM "mqttx/simulate/#"`, "vehicles")+bridgeYAML("vehicles", k.addr, "my-vehicles", "      value: ${payload}\n      mode: sync\n"))
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", cfg)
	telemetry := testutil.Scenario(t, "vehicles/telemetry.json")
	var times [][2]int64
	for i := range 3 {
		id := "vehicle-" + strconv.Itoa(i)
		c := pahoDeviceV5(t, h, id, paho.ClientConfig{}, true)
		before := time.Now().UnixMilli()
		publish1(t, c, "mqttx/simulate/tesla/"+id, telemetry)
		times = append(times, [2]int64{before, time.Now().UnixMilli()})
	}
	recs := consume(t, k.addr, "my-vehicles", 3)
	require.Len(t, recs, 3)
	for _, r := range recs {
		i, err := strconv.Atoi(strings.TrimPrefix(r.Key, "vehicle-"))
		require.NoError(t, err, r.Key)
		require.Equal(t, string(telemetry), r.Value)
		ts := r.Time.UnixMilli()
		require.True(t, ts >= times[i][0] && ts <= times[i][1], "timestamp %d not within the publish [%d, %d]", ts, times[i][0], times[i][1])
	}
	kc := kcatConsume(t, k.addr, "my-vehicles", 3)
	for _, r := range kc {
		require.Equal(t, string(telemetry), r[2])
	}
}

// publishMany publishes n QoS 1 messages from each of devices, each
// device's payloads numbered 0…n-1, all acknowledged by the hub.
func publishMany(t *testing.T, h *hub, devices, n int) {
	t.Helper()
	publishRange(t, h, devices, 0, n)
}

// checkOrdered checks that each of devices keys got the values 0…n-1 in
// order (repeats skipped) and returns the number of repeats.
func checkOrdered(t *testing.T, recs []record, devices, n int) (dups int) {
	t.Helper()
	keys, values := make([]string, len(recs)), make([]string, len(recs))
	for i, r := range recs {
		keys[i], values[i] = r.Key, r.Value
	}
	return len(inOrder(t, keys, values, devices, n))
}

// inOrder checks that each of devices streams (keys[i] names the stream
// of values[i]) got the decimal numbers 0…n-1 in order, a value seen
// before in its stream skipped as a repeat. It returns each repeat's
// index with the index of its first copy.
func inOrder(t *testing.T, keys, values []string, devices, n int) (repeats [][2]int) {
	t.Helper()
	next := map[string]int{}
	first := map[string]int{}
	for i := range keys {
		id := keys[i] + "\x00" + values[i]
		if j, seen := first[id]; seen {
			repeats = append(repeats, [2]int{i, j})
			continue
		}
		first[id] = i
		v, err := strconv.Atoi(values[i])
		require.NoError(t, err)
		require.Equal(t, next[keys[i]], v, "%s out of order", keys[i])
		next[keys[i]]++
	}
	require.Len(t, next, devices)
	for d, c := range next {
		require.Equal(t, n, c, d)
	}
	return repeats
}

// TestKafka_outage: 10,000 QoS 1 messages published while Kafka is down
// (stopped, or hanging: a listener that accepts and never answers), each
// in the bridge's durable queue before its PUBACK, then all delivered in
// order per device when Kafka is back — also when the hub is killed -9 the
// moment the last PUBACK arrived (records still in memory and in flight,
// no send timeout elapsed). Without a kill, and across a hanging Kafka,
// nothing is duplicated: the idempotent producer's session survives.
func TestKafka_outage(t *testing.T) {
	const devices, perDevice = 10, 1000
	tests := []struct {
		name         string
		hang         bool
		kill         bool
		disconnected bool // wait for the status to say so before publishing
	}{
		{"kafka stopped", false, false, true},
		{"kafka hanging", true, false, false},
		{"kafka stopped, hub killed -9 at once", false, true, false},
		{"kafka stopped and shown disconnected, hub killed -9 at once", false, true, true},
		{"kafka hanging, hub killed -9 at once", true, true, false},
	}
	t.Parallel()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := startKafka(t, "fleet")
			cfg := hubConfig(t, ruleToBridge("fleet", `SELECT payload FROM "fleet/#"`, "fleet")+bridgeYAML("fleet", k.addr, "fleet", "      value: ${payload}\n      key: ${clientid}\n    buffer:\n      memory_records: 20000\n"))
			h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", cfg)
			waitState(t, h, "fleet", "connected")
			k.stop()
			var hung *hang
			if tc.hang {
				hung = hangOn(t, k.addr)
			}
			if tc.disconnected {
				st := waitState(t, h, "fleet", "disconnected")
				require.NotEmpty(t, st["last_error"])
				require.NotContains(t, st["last_error"], "context", "the real error")
			}
			publishMany(t, h, devices, perDevice)
			if tc.kill {
				require.NoError(t, h.cmd.Process.Kill()) // every record PUBACKed, none sent, no timeout elapsed
				<-h.exited
				h = startHubOn(t, h, "--config", cfg)
				m := bridgeGet(t, h, "fleet", "metrics")
				require.EqualValues(t, devices*perDevice, m["queued"].(float64)+m["inflight"].(float64), "%v", m)
			} else {
				m := bridgeGet(t, h, "fleet", "metrics")
				require.EqualValues(t, devices*perDevice, m["queued"].(float64)+m["inflight"].(float64), "every PUBACKed record is queued: %v", m)
				st := waitState(t, h, "fleet", "disconnected")
				require.NotEmpty(t, st["last_error"])
				require.NotContains(t, st["last_error"], "context canceled")
			}
			if hung != nil {
				hung.close()
			}
			k.start(t, "fleet")
			waitBridge(t, h, "fleet", "metrics", "queued", 0)
			recs := consume(t, k.addr, "fleet", devices*perDevice)
			dups := checkOrdered(t, recs, devices, perDevice)
			if !tc.kill {
				require.Zero(t, dups, "an outage without a restart duplicates nothing")
				m := bridgeGet(t, h, "fleet", "metrics")
				require.EqualValues(t, devices*perDevice, m["sent"], "sent counts records: %v", m)
				require.Zero(t, m["failed"], "nothing failed for good: %v", m)
			} else {
				t.Logf("duplicates after the kill: %d", dups)
			}
		})
	}
}

// hang is a listener that accepts connections and never answers: a
// Kafka that hangs (EMQX issue 17916).
type hang struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// hangOn listens on addr (waiting until the port is free again) and
// accepts and holds connections until close.
func hangOn(t *testing.T, addr string) *hang {
	t.Helper()
	h := &hang{}
	var err error
	require.Eventually(t, func() bool { h.ln, err = net.Listen("tcp", addr); return err == nil }, 30*time.Second, 50*time.Millisecond)
	go func() {
		for {
			c, err := h.ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(h.close)
	return h
}

// close stops listening and drops the held connections.
func (h *hang) close() {
	_ = h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		_ = c.Close()
	}
	h.conns = nil
}

// TestKafka_consumer: a record produced with kcat reaches a subscribed
// device, on the topic built from the template, with headers as user
// properties.
func TestKafka_consumer(t *testing.T) {
	t.Parallel()
	k := startKafka(t, "vehicle-commands")
	cfg := hubConfig(t, fmt.Sprintf(`bridges:
  - name: commands
    type: kafka_consumer
    kafka:
      bootstrap_servers: [%q]
    consumer:
      topics: [vehicle-commands]
      offset: earliest
      mqtt_topic: vehicles/${key}/command
      qos: 1
`, k.addr))
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", cfg)
	got := make(chan *paho.Publish, 1)
	c := pahoDeviceV5(t, h, "vehicle-7", paho.ClientConfig{}, true)
	c.AddOnPublishReceived(func(pr paho.PublishReceived) (bool, error) { got <- pr.Packet; return true, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "vehicles/+/command", QoS: 1}}})
	require.NoError(t, err)
	waitState(t, h, "commands", "connected")

	cmd := exec.CommandContext(ctx, tool(t, "kcat"), "-b", k.addr, "-P", "-t", "vehicle-commands", "-K", ":", "-H", "trace=abc")
	cmd.Stdin = strings.NewReader(`vehicle-7:{"action":"honk"}` + "\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	select {
	case p := <-got:
		require.Equal(t, "vehicles/vehicle-7/command", p.Topic)
		require.JSONEq(t, `{"action":"honk"}`, string(p.Payload))
		require.EqualValues(t, 1, p.QoS)
		require.Equal(t, "abc", p.Properties.User.Get("trace"))
	case <-ctx.Done():
		t.Fatalf("no message; bridge metrics %v", bridgeGet(t, h, "commands", "metrics"))
	}
	waitBridge(t, h, "commands", "metrics", "published", 1)
}

// TestKafka_badInput: an unreachable bootstrap server gives a
// disconnected status with the error, not a failed start; a template
// naming an unknown field is refused with its position, in the file and
// through the API.
func TestKafka_badInput(t *testing.T) {
	t.Parallel()
	dead := freePort(t) // nothing listens there
	cfg := hubConfig(t, "bridges:\n"+bridgeYAML("nowhere", dead, "t", ""))
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", cfg)
	st := waitState(t, h, "nowhere", "disconnected")
	require.Contains(t, st["last_error"], "connect")

	body := fmt.Sprintf(`{"name":"bad","kafka":{"bootstrap_servers":[%q]},"producer":{"topic":"t","key":"${clinetid}"}}`, dead)
	code, resp := apiCall(t, h, "POST", "/api/v1/bridges", apiKey, body)
	require.Equal(t, 400, code, resp)
	require.Contains(t, resp, `producer.key: template \"${clinetid}\", column 3: unknown field \"clinetid\"`)

	code, resp = apiCall(t, h, "POST", "/api/v1/bridges", apiKey, fmt.Sprintf(`{"name":"good","kafka":{"bootstrap_servers":[%q]},"producer":{"topic":"t"}}`, dead))
	require.Equal(t, 201, code, resp)
	code, resp = apiCall(t, h, "GET", "/api/v1/bridges", apiKey, "")
	require.Equal(t, 200, code, resp)
	require.Contains(t, resp, `"name":"good"`)

	code, stdout, stderr := runHub(t, nil, "serve", "--config", hubConfig(t, "bridges:\n"+bridgeYAML("bad", dead, "t-${nope}", "")),
		"--mqtt-addr", freePort(t), "--ws-addr", freePort(t), "--api-addr", freePort(t), "--data-dir", t.TempDir())
	require.NotEqual(t, 0, code)
	require.Contains(t, stdout+stderr, `bridges.0: bridge: invalid definition: producer.topic`)
	require.Contains(t, stdout+stderr, `column 5: unknown field \"nope\"`) // as logfmt quotes it
}

// TestKafka_consumerRestart: a hub consuming in a group is killed -9 and
// restarted; until the group coordinator expires the dead member
// (consumer.session_timeout, here 6 s) the bridge reads rebalancing, not
// connected, then it consumes again (kcat produces, a device receives). A
// SIGTERM while it rebalances stops the hub cleanly: leaving the group and
// closing the client are bounded.
func TestKafka_consumerRestart(t *testing.T) {
	t.Parallel()
	k := startKafka(t, "vehicle-commands")
	cfg := hubConfig(t, fmt.Sprintf(`bridges:
  - name: commands
    type: kafka_consumer
    kafka: {bootstrap_servers: [%q]}
    consumer:
      topics: [vehicle-commands]
      group: g-restart
      offset: earliest
      mqtt_topic: vehicles/${key}/command
      session_timeout: 6s
      heartbeat_interval: 1s
`, k.addr))
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", cfg)
	waitState(t, h, "commands", "connected")
	require.NoError(t, h.cmd.Process.Kill())
	<-h.exited
	h = startHubOn(t, h, "--config", cfg)
	waitState(t, h, "commands", "rebalancing") // the dead member still holds the partitions
	waitState(t, h, "commands", "connected")

	got := make(chan *paho.Publish, 1)
	c := pahoDeviceV5(t, h, "vehicle-9", paho.ClientConfig{}, true)
	c.AddOnPublishReceived(func(pr paho.PublishReceived) (bool, error) { got <- pr.Packet; return true, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "vehicles/+/command", QoS: 1}}})
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, tool(t, "kcat"), "-b", k.addr, "-P", "-t", "vehicle-commands", "-K", ":")
	cmd.Stdin = strings.NewReader(`vehicle-9:{"action":"honk"}` + "\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	select {
	case p := <-got:
		require.Equal(t, "vehicles/vehicle-9/command", p.Topic)
	case <-ctx.Done():
		t.Fatalf("no message after the restart; metrics %v", bridgeGet(t, h, "commands", "metrics"))
	}

	require.NoError(t, h.cmd.Process.Kill())
	<-h.exited
	h = startHubOn(t, h, "--config", cfg)
	waitState(t, h, "commands", "rebalancing")
	require.NoError(t, h.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-h.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("the hub did not stop")
	}
	require.NotContains(t, h.logs.String(), "shutdown incomplete")
	require.Contains(t, h.logs.String(), "iothub stopped")
}
