package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge/postgres/pgtest"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// TestPostgres_doorLock: door-lock state reports reach PostgreSQL through
// two bridges: the ready-made time-series table (created by the hub, the
// payload stored as JSONB) and a custom INSERT whose placeholders are
// bound as parameters, so that a payload of quotes and SQL fragments is
// stored verbatim and the table survives it.
func TestPostgres_doorLock(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)
	db := pg.Conn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	_, err := db.Exec(ctx, `CREATE TABLE lock_events (device text, ts bigint, topic text, payload text)`)
	require.NoError(t, err)
	cfg := hubConfig(t, fmt.Sprintf(`rules:
  list:
    - id: lock_state
      sql: 'SELECT * FROM "devices/+/state"'
      actions: [{type: bridge, bridge: lock_series}, {type: bridge, bridge: lock_events}]
bridges:
  - name: lock_series
    type: postgres
    postgres:
      url: %[1]q
      table: {create: true, name: lock_state}
  - name: lock_events
    type: postgres
    postgres:
      url: %[1]q
      statement: INSERT INTO lock_events (device, ts, topic, payload) VALUES (${clientid}, ${timestamp}, ${topic}, ${payload})
      pool_size: 2
`, pg.URL))
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", cfg)
	waitState(t, h, "lock_series", "connected")

	const lock = "10083618796833171"
	evil := []byte(`'); DROP TABLE lock_events; -- "x" \ $1`)
	c := pahoDeviceV5(t, h, lock, paho.ClientConfig{}, true)
	before := time.Now().UnixMilli()
	publish1(t, c, "devices/"+lock+"/state", testutil.Scenario(t, "doorlock/state.json"))
	publish1(t, c, "devices/"+lock+"/state", evil)
	waitBridge(t, h, "lock_events", "metrics", "sent", 2)
	waitBridge(t, h, "lock_series", "metrics", "sent", 2)

	rows, err := db.Query(ctx, `SELECT device, ts, topic, payload FROM lock_events ORDER BY ts, payload`)
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var dev, topic, payload string
		var ts int64
		require.NoError(t, rows.Scan(&dev, &ts, &topic, &payload))
		require.Equal(t, lock, dev)
		require.Equal(t, "devices/"+lock+"/state", topic)
		require.GreaterOrEqual(t, ts, before)
		got = append(got, payload)
	}
	require.NoError(t, rows.Err())
	require.ElementsMatch(t, []string{string(testutil.Scenario(t, "doorlock/state.json")), string(evil)}, got)

	var battery float64
	var n int
	require.NoError(t, db.QueryRow(ctx, `SELECT (payload->>'battery')::float8, (SELECT count(*) FROM lock_state)
		FROM lock_state WHERE device = $1 AND payload ? 'battery'`, lock).Scan(&battery, &n))
	require.Equal(t, 83.4, battery)
	require.Equal(t, 2, n)
	var raw string
	require.NoError(t, db.QueryRow(ctx, `SELECT payload #>> '{}' FROM lock_state WHERE jsonb_typeof(payload) = 'string'`).Scan(&raw))
	require.Equal(t, string(evil), raw)
}
