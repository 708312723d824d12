package integration

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// TestRedis_doorLock: a lock publishes its state; the rule
// SELECT clientid, payload.battery AS battery feeds a redis hset bridge
// (device:${clientid}, TTL 1h) and an xadd bridge (the history stream);
// HGETALL shows the battery. Then Redis is killed while the lock keeps
// publishing, and started again on the same port: the stream gets every
// state, in order.
func TestRedis_doorLock(t *testing.T) {
	t.Parallel()
	srv := testutil.StartRedis(t)
	cfg := hubConfig(t, fmt.Sprintf(`rules:
  list:
    - id: lock_battery
      sql: 'SELECT clientid, payload.battery AS battery FROM "devices/+/state"'
      actions: [{type: bridge, bridge: lock_latest}, {type: bridge, bridge: lock_history}]
bridges:
  - name: lock_latest
    type: redis
    redis:
      addresses: [%[1]q]
      command: hset
      key: device:${clientid}
      ttl: 1h
    producer:
      send_timeout: 2s
  - name: lock_history
    type: redis
    redis:
      addresses: [%[1]q]
      command: xadd
      stream: history:${clientid}
      maxlen: 10000
    producer:
      send_timeout: 2s
`, srv.Addr))
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", cfg)
	waitState(t, h, "lock_latest", "connected")

	const lock = "10083618796833171"
	c := pahoDeviceV5(t, h, lock, paho.ClientConfig{}, true)
	publish1(t, c, "devices/"+lock+"/state", testutil.Scenario(t, "doorlock/state.json"))
	waitBridge(t, h, "lock_latest", "metrics", "sent", 1)
	rc := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer rc.Close()
	ctx := context.Background()
	got, err := rc.HGetAll(ctx, "device:"+lock).Result()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"clientid": lock, "battery": "83.4"}, got)
	ttl, err := rc.TTL(ctx, "device:"+lock).Result()
	require.NoError(t, err)
	require.Greater(t, ttl, 59*time.Minute)

	// Redis down mid-stream: the states wait in the bridge's queue.
	waitBridge(t, h, "lock_history", "metrics", "sent", 1)
	srv.Stop()
	const n = 50
	for i := range n {
		publish1(t, c, "devices/"+lock+"/state", fmt.Appendf(nil, `{"battery":%d}`, i))
	}
	waitState(t, h, "lock_history", "disconnected")
	// Every state is queued; the restarted server is empty (no persistence).
	waitBridge(t, h, "lock_history", "metrics", "matched", n+1)
	srv.Start()
	waitBridge(t, h, "lock_history", "metrics", "queued", 0)
	waitBridge(t, h, "lock_latest", "metrics", "queued", 0)
	entries, err := rc.XRange(ctx, "history:"+lock, "-", "+").Result()
	require.NoError(t, err)
	next := 0 // at least once: the first occurrences are 0…n-1 in order
	for _, e := range entries {
		b, err := strconv.Atoi(e.Values["battery"].(string))
		require.NoError(t, err)
		if b == next {
			next++
		} else {
			require.Less(t, b, next, "state %d before %d", b, next)
		}
	}
	require.Equal(t, n, next, "every state published while Redis was down arrived, in order: %v", entries)
	require.Equal(t, strconv.Itoa(n-1), rc.HGet(ctx, "device:"+lock, "battery").Val(), "the hash holds the latest state")
	m := bridgeGet(t, h, "lock_history", "metrics")
	require.Empty(t, m["dropped"])
}
