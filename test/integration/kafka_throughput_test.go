package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBench_mqttToKafka measures QoS 1 MQTT → rule → Kafka bridge →
// Kafka through the hub against franz-go producing the same records
// straight to the same kfake, alternating, and logs both rates and their
// ratio (docs/benchmarks.md). It runs only with IOTHUB_BENCH_BIN set to a
// hub binary built without -race:
//
//	go build -o /tmp/iothub ./cmd/iothub
//	IOTHUB_BENCH_BIN=/tmp/iothub go test -run TestBench_mqttToKafka -v -count=1 ./test/integration/
//
// IOTHUB_BENCH_ROUNDS (default 3) sets the rounds; IOTHUB_BENCH_DURABILITY
// (default fsync) the hub's storage.durability.
func TestBench_mqttToKafka(t *testing.T) {
	bin := os.Getenv("IOTHUB_BENCH_BIN")
	if bin == "" {
		t.Skip("set IOTHUB_BENCH_BIN to a hub binary built without -race")
	}
	rounds, _ := strconv.Atoi(os.Getenv("IOTHUB_BENCH_ROUNDS"))
	rounds = max(rounds, 1)
	if os.Getenv("IOTHUB_BENCH_ROUNDS") == "" {
		rounds = 3
	}
	durability := os.Getenv("IOTHUB_BENCH_DURABILITY")
	if durability == "" {
		durability = "fsync"
	}
	const clients, perClient, size = 20, 10000, 200
	for r := range rounds {
		direct := benchDirect(t, clients*perClient, size)
		hub := benchHubToKafka(t, bin, durability, clients, perClient, size)
		t.Logf("round %d: direct franz-go %.0f records/s, MQTT QoS 1 → hub → Kafka %.0f records/s, ratio %.2f",
			r+1, direct, hub, hub/direct)
	}
}

// benchKafka starts an in-memory kfake with topic tp (4 partitions).
func benchKafka(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "tp"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// benchDirect produces n records of size bytes (20 keys) with franz-go's
// defaults but for the bridge's: idempotent, acks all, linger 5ms, no
// compression.
func benchDirect(t *testing.T, n, size int) float64 {
	addr := benchKafka(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	require.NoError(t, err)
	defer cl.Close()
	value := make([]byte, size)
	var wg sync.WaitGroup
	wg.Add(n)
	start := time.Now()
	for i := range n {
		cl.Produce(context.Background(), &kgo.Record{Topic: "tp", Key: fmt.Appendf(nil, "bench-pub-%d", i%20),
			Value: value, Timestamp: time.Now()}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// benchHubToKafka starts the hub binary with the rule and the bridge,
// publishes with `iothub bench pub` and returns records/s from the start
// of the publishing until Kafka acknowledged the last record.
func benchHubToKafka(t *testing.T, bin, durability string, clients, perClient, size int) float64 {
	addr := benchKafka(t)
	cfg := hubConfig(t, "storage: {durability: "+durability+"}\n"+ruleToBridge("tp", `SELECT payload FROM "tp/#"`, "tp")+fmt.Sprintf(`  - name: tp
    type: kafka_producer
    kafka: {bootstrap_servers: [%q]}
    producer: {topic: tp, value: "${payload}"}
`, addr))
	h := &hub{mqtt: freePort(t), ws: freePort(t), api: freePort(t), dataDir: t.TempDir(), logs: &syncBuffer{}, exited: make(chan struct{})}
	h.cmd = exec.Command(bin, "serve", "--config", cfg, "--mqtt-addr", h.mqtt, "--ws-addr", h.ws, "--api-addr", h.api,
		"--data-dir", h.dataDir, "--log-level", "warn")
	h.cmd.Env = append(os.Environ(), "IOTHUB_API_KEY="+apiKey)
	h.cmd.Stdout, h.cmd.Stderr = h.logs, h.logs
	require.NoError(t, h.cmd.Start())
	go func() { _ = h.cmd.Wait(); close(h.exited) }()
	defer h.stop(t)
	waitListening(t, h.mqtt, h.exited)
	waitListening(t, h.api, h.exited)
	waitState(t, h, "tp", "connected")
	total := clients * perClient
	start := time.Now()
	out, err := exec.Command(bin, "bench", "pub", "--addr", h.mqtt, "--clients", strconv.Itoa(clients),
		"--count", strconv.Itoa(perClient), "--size", strconv.Itoa(size), "--qos", "1", "--rate", "0",
		"--inflight", "32", "--topic", "tp/%c", "--duration", "5m").CombinedOutput()
	require.NoError(t, err, "%s", out)
	published := time.Since(start)
	require.Eventually(t, func() bool {
		sent, _ := bridgeGet(t, h, "tp", "metrics")["sent"].(float64)
		return int(sent) >= total
	}, 5*time.Minute, 5*time.Millisecond, "%v", bridgeGet(t, h, "tp", "metrics"))
	rate := float64(total) / time.Since(start).Seconds()
	t.Logf("  MQTT ingest %.0f msg/s (publishing took %s)", float64(total)/published.Seconds(), published.Round(time.Millisecond))
	return rate
}
