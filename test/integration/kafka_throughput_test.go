package integration

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBench_mqttToKafka measures QoS 1 MQTT → rule → Kafka bridge →
// Kafka through the hub against (i) franz-go producing the same records
// straight to a kfake and (ii) the same hub and publishers with no rule
// (MQTT ingest alone), alternating the three in every round, and logs the
// rates, the ratios and their medians (docs/benchmarks.md). It runs only
// with IOTHUB_BENCH_BIN set to a hub binary built without -race:
//
//	go build -o /tmp/iothub ./cmd/iothub
//	IOTHUB_BENCH_BIN=/tmp/iothub go test -run TestBench_mqttToKafka -v -count=1 -timeout 60m ./test/integration/
//
// IOTHUB_BENCH_ROUNDS (default 3) sets the rounds; IOTHUB_BENCH_DURABILITY
// (default "os,fsync") the hub's storage.durability values, each measured
// in every round.
// benchBinary is the hub binary a benchmark test runs (IOTHUB_BENCH_BIN,
// built without -race); without it the benchmark is skipped: benchmarks
// run on request, not in make test.
func benchBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("IOTHUB_BENCH_BIN")
	if bin == "" {
		t.Skip("set IOTHUB_BENCH_BIN to a hub binary built without -race")
	}
	return bin
}

func TestBench_mqttToKafka(t *testing.T) {
	bin := benchBinary(t)
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("IOTHUB_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	durabilities := strings.Split(cmp.Or(os.Getenv("IOTHUB_BENCH_DURABILITY"), "os,fsync"), ",")
	const clients, perClient, size = 20, 10000, 200
	var direct []float64
	ingest, bridge := map[string][]float64{}, map[string][]float64{}
	for r := range rounds {
		d := benchDirect(t, clients*perClient, size)
		direct = append(direct, d)
		t.Logf("round %d (load %s): (i) direct franz-go %.0f records/s", r+1, loadAvg(), d)
		for _, dur := range durabilities {
			in, _ := benchHubToKafka(t, bin, dur, false, clients, perClient, size)
			_, br := benchHubToKafka(t, bin, dur, true, clients, perClient, size)
			ingest[dur], bridge[dur] = append(ingest[dur], in), append(bridge[dur], br)
			t.Logf("round %d (load %s) durability %s: (ii) hub, no rule %.0f msg/s; (iii) hub + rule + Kafka bridge %.0f records/s; (iii)/(i) %.2f, (iii)/(ii) %.2f",
				r+1, loadAvg(), dur, in, br, br/d, br/in)
		}
	}
	for _, dur := range durabilities {
		t.Logf("medians of %d rounds, durability %s: (i) %.0f, (ii) %.0f, (iii) %.0f; (iii)/(i) %.2f, (iii)/(ii) %.2f",
			rounds, dur, median(direct), median(ingest[dur]), median(bridge[dur]),
			median(ratios(bridge[dur], direct)), median(ratios(bridge[dur], ingest[dur])))
	}
}

// median returns the median of v (the mean of the middle two for an even
// count).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratios returns a[i]/b[i] for each round.
func ratios(a, b []float64) []float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	return r
}

// loadAvg returns the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
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

// benchHubToKafka starts the hub binary, with the rule and the bridge
// when withRule is set, publishes with `iothub bench pub` and returns the
// MQTT ingest rate (messages/s until the last PUBACK) and, with the rule,
// records/s from the start of the publishing until Kafka acknowledged the
// last record.
func benchHubToKafka(t *testing.T, bin, durability string, withRule bool, clients, perClient, size int) (ingest, endToEnd float64) {
	yaml := "storage: {durability: " + durability + "}\n"
	if withRule {
		yaml += ruleToBridge("tp", `SELECT payload FROM "tp/#"`, "tp") + fmt.Sprintf(`  - name: tp
    type: kafka_producer
    kafka: {bootstrap_servers: [%q]}
    producer: {topic: tp, value: "${payload}"}
`, benchKafka(t))
	}
	cfg := hubConfig(t, yaml)
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
	if withRule {
		waitState(t, h, "tp", "connected")
	}
	total := clients * perClient
	start := time.Now()
	out, err := exec.Command(bin, "bench", "pub", "--addr", h.mqtt, "--clients", strconv.Itoa(clients),
		"--count", strconv.Itoa(perClient), "--size", strconv.Itoa(size), "--qos", "1", "--rate", "0",
		"--inflight", "32", "--topic", "tp/%c", "--duration", "5m").CombinedOutput()
	require.NoError(t, err, "%s", out)
	ingest = float64(total) / time.Since(start).Seconds()
	if !withRule {
		return ingest, 0
	}
	require.Eventually(t, func() bool {
		sent, _ := bridgeGet(t, h, "tp", "metrics")["sent"].(float64)
		return int(sent) >= total
	}, 5*time.Minute, 5*time.Millisecond, "%v", bridgeGet(t, h, "tp", "metrics"))
	return ingest, float64(total) / time.Since(start).Seconds()
}
