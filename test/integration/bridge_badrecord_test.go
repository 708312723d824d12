package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge/postgres/pgtest"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// badRecordCase is one sink for TestBridges_badRecordMovesOn.
type badRecordCase struct {
	name string
	// setup starts the target and returns the bridge's YAML entry (name
	// "sink", dead letter on the hub topic deadletter/sink) such that the
	// message with payload {"n":13} is refused for good, and a function
	// returning the n of every other message the target holds.
	setup func(t *testing.T) (yaml string, got func() []string)
}

// TestBridges_badRecordMovesOn: for every sink, one record the target
// refuses for good (Kafka: a topic that does not exist, Redis: WRONGTYPE,
// PostgreSQL: a CHECK constraint, Mosquitto: an ACL deny, a webhook: 400)
// among 30 goes to the dead letter — here a topic of the hub, read by an
// MQTT subscriber — is counted once, and the 29 others arrive once each:
// what succeeded is not sent again.
func TestBridges_badRecordMovesOn(t *testing.T) {
	t.Parallel()
	cases := []badRecordCase{
		{"kafka", func(t *testing.T) (string, func() []string) {
			k := startKafka(t, "good") // bad13 does not exist, auto-creation is off below
			return fmt.Sprintf(`    type: kafka_producer
    kafka: {bootstrap_servers: [%q]}
    producer: {topic: "${payload.kind}", value: "${payload.n}"}
`, k.addr), func() []string {
					return kcatValues(t, k.addr, "good")
				}
		}},
		{"redis", func(t *testing.T) (string, func() []string) {
			srv := testutil.StartRedis(t)
			rc := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
			t.Cleanup(func() { _ = rc.Close() })
			require.NoError(t, rc.Set(context.Background(), "bad13", "a string", 0).Err())
			return fmt.Sprintf(`    type: redis
    redis: {addresses: [%q], command: xadd, stream: "${payload.kind}", fields: [{key: n, value: "${payload.n}"}]}
`, srv.Addr), func() []string {
					entries, _ := rc.XRange(context.Background(), "good", "-", "+").Result()
					var out []string
					for _, e := range entries {
						out = append(out, fmt.Sprint(e.Values["n"]))
					}
					return out
				}
		}},
		{"postgres", func(t *testing.T) (string, func() []string) {
			pg := pgtest.Start(t)
			db := pg.Conn(t)
			_, err := db.Exec(context.Background(), `CREATE TABLE t (id bigserial PRIMARY KEY, kind text CHECK (kind = 'good'), n int)`)
			require.NoError(t, err)
			return fmt.Sprintf(`    type: postgres
    postgres: {url: %q, statement: "INSERT INTO t (kind, n) VALUES (${payload.kind}, ${payload.n})"}
`, pg.URL), func() []string { return pgColumn(db, "SELECT n::text FROM t ORDER BY id") }
		}},
		{"mqtt", func(t *testing.T) (string, func() []string) {
			m := startMosquitto(t, "allow_anonymous true\nacl_file "+aclFile(t, "topic write remote/good\ntopic read remote/#\n")+"\n")
			col := collect(t, m.addr, "remote-reader", "remote/#")
			return fmt.Sprintf(`    type: mqtt
    mqtt: {address: %q, remote_topic: "remote/${payload.kind}"}
`, m.addr), func() []string { // the payload travels as published
					var out []string
					for _, p := range col.payloads() {
						var v struct{ N int }
						if json.Unmarshal([]byte(p), &v) == nil {
							out = append(out, fmt.Sprint(v.N))
						}
					}
					return out
				}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			yaml, got := tc.setup(t)
			cfg := hubConfig(t, ruleToBridge("r", `SELECT * FROM "in/#"`, "sink")+`  - name: sink
`+yaml+`    dead_letter: {mqtt_topic: deadletter/sink}
`)
			h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", cfg)
			dead := make(chan []byte, 10)
			watcher := pahoDeviceV5(t, h, "dead-watcher", paho.ClientConfig{OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) { dead <- pr.Packet.Payload; return true, nil }}}, true)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := watcher.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "deadletter/sink", QoS: 1}}})
			require.NoError(t, err)
			dev := pahoDeviceV5(t, h, "dev-1", paho.ClientConfig{}, true)
			var want []string
			for n := range 30 {
				kind := "good"
				if n == 13 {
					kind = "bad13"
				} else {
					want = append(want, fmt.Sprint(n))
				}
				publish1(t, dev, "in/x", fmt.Appendf(nil, `{"kind":%q,"n":%d}`, kind, n))
			}
			require.Eventually(t, func() bool { return len(got()) >= len(want) }, 90*time.Second, 100*time.Millisecond,
				"got %v; metrics %v", got(), bridgeGet(t, h, "sink", "metrics"))
			waitBridge(t, h, "sink", "metrics", "failed", 1)
			select {
			case b := <-dead:
				var d struct{ Bridge, Error, Value string }
				require.NoError(t, json.Unmarshal(b, &d), "%s", b)
				require.Equal(t, "sink", d.Bridge)
				require.NotEmpty(t, d.Error)
				require.Contains(t, d.Value, "13")
			case <-time.After(30 * time.Second):
				t.Fatal("no dead letter published")
			}
			waitBridge(t, h, "sink", "metrics", "queued", 0)
			require.Equal(t, want, got(), "every good record once, in order; the bad one did not hold them back")
			m := bridgeGet(t, h, "sink", "metrics")
			require.EqualValues(t, 29, m["sent"], "%v", m)
			require.EqualValues(t, 1, m["dead_lettered"], "%v", m)
		})
	}
}

// kcatValues reads every record value of topic with kcat (-e: until the
// end of the partitions).
func kcatValues(t *testing.T, addr, topic string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool(t, "kcat"), "-b", addr, "-C", "-t", topic, "-o", "beginning", "-e",
		"-f", "%s\n").Output()
	if err != nil {
		return nil
	}
	s := strings.TrimSpace(string(out))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// aclFile writes a Mosquitto ACL file and returns its path.
func aclFile(t *testing.T, text string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "iothub-acl-") // not under t.TempDir, whose parent only root may enter
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755)) //nolint:gosec // mosquitto reads it after dropping to its own user
	p := filepath.Join(dir, "acl")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644)) //nolint:gosec // read by the mosquitto user
	return p
}
