package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// TestCluster_kafkaConsumerGroup: the Kafka consumer bridge of every node of
// a three-node cluster joins one consumer group, so a record produced with
// kcat enters the hub on one node only (the one its partition is assigned
// to) and reaches a subscriber on any node once. Were each node a group of
// its own, every node would publish every record and the subscriber would
// get each one three times.
func TestCluster_kafkaConsumerGroup(t *testing.T) {
	t.Parallel()
	k := startKafkaPartitions(t, 6, "fleet-commands")
	tc := startTestClusterWith(t, 3, fmt.Sprintf(`bridges:
  - name: commands
    type: kafka_consumer
    kafka: {bootstrap_servers: [%q]}
    consumer:
      topics: [fleet-commands]
      group: iothub-cluster
      offset: earliest
      mqtt_topic: fleet/${key}/command
      qos: 1
`, k.addr))
	got := make(chan mqtt.Message, 2000)
	sub := pahoClient(t, tc.nodes[0].mqtt, "fleet-sub", false, got)
	pahoSubscribe(t, sub, "fleet/+/command", 1)
	for _, h := range tc.nodes {
		waitClusterBridge(t, h, "connected")
		if h != tc.nodes[0] { // records consumed there go to the subscriber's node only once they know its filter
			awaitRoutes(t, h, tc.nodes[0])
		}
	}

	const records = 300
	var in strings.Builder
	for i := range records {
		fmt.Fprintf(&in, "v%d:{\"seq\":%d}\n", i, i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool(t, "kcat"), "-b", k.addr, "-P", "-t", "fleet-commands", "-K", ":")
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))

	seen := make(map[string]int, records)
	deadline := time.After(90 * time.Second)
	for len(seen) < records {
		select {
		case m := <-got:
			seen[m.Topic()]++
		case <-deadline:
			t.Fatalf("%d of %d records reached the subscriber", len(seen), records)
		}
	}
	for i := range records {
		require.Contains(t, seen, "fleet/v"+strconv.Itoa(i)+"/command")
	}
	published, nodesPublishing := 0, 0
	for _, h := range tc.nodes {
		n := clusterBridgeMetric(t, h, "published")
		published += n
		if n > 0 {
			nodesPublishing++
		}
		t.Logf("%s published %d records", h.name, n)
	}
	require.GreaterOrEqual(t, nodesPublishing, 2, "the partitions are spread over the nodes")
	require.Less(t, published, 2*records, "one group: a record enters through one node (a rebalance may repeat a few)")
}

// waitClusterBridge waits until node h's bridge "commands" is in state.
func waitClusterBridge(t *testing.T, h *clusterHub, state string) {
	t.Helper()
	require.Eventually(t, func() bool {
		code, body := apiCall(t, h.hub, http.MethodGet, "/api/v1/bridges/commands/status", clusterKey, "")
		return code == http.StatusOK && strings.Contains(body, `"state":"`+state+`"`)
	}, 60*time.Second, 100*time.Millisecond, "%s: bridge never %s", h.name, state)
}

// clusterBridgeMetric reads one counter of node h's bridge "commands".
func clusterBridgeMetric(t *testing.T, h *clusterHub, field string) int {
	t.Helper()
	code, body := apiCall(t, h.hub, http.MethodGet, "/api/v1/bridges/commands/metrics", clusterKey, "")
	require.Equal(t, http.StatusOK, code, body)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	v, _ := m[field].(float64)
	return int(v)
}
