package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge/postgres/pgtest"
	"github.com/iothub-dev/iothub/bridge/webhook"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// docBlocks returns the fenced code blocks of language lang in the
// section of docs/<page> whose heading starts with heading, in order.
// startWebhookDocHub starts a hub on the first YAML block of bridges.md's
// webhook section, its webhook pointed at receiverURL.
func startWebhookDocHub(t *testing.T, receiverURL string) *hub {
	t.Helper()
	yamls := docBlocks(t, "bridges.md", "Webhook (", "yaml")
	require.NotEmpty(t, yamls)
	cfg := strings.ReplaceAll(yamls[0], "127.0.0.1:18090", strings.TrimPrefix(receiverURL, "http://"))
	return startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, cfg))
}

func docBlocks(t *testing.T, page, heading, lang string) []string {
	t.Helper()
	data, err := os.ReadFile("../../docs/" + page)
	require.NoError(t, err)
	doc := string(data)
	i := strings.Index(doc, "\n## "+heading)
	require.GreaterOrEqual(t, i, 0, "docs/%s has no section %q", page, heading)
	section := doc[i+1:]
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	var blocks []string
	for rest := section; ; {
		a := strings.Index(rest, "```"+lang+"\n")
		if a < 0 {
			return blocks
		}
		rest = rest[a+len(lang)+4:]
		b := strings.Index(rest, "```")
		require.GreaterOrEqual(t, b, 0)
		blocks = append(blocks, rest[:b])
		rest = rest[b+3:]
	}
}

// TestDocs_webhookExample runs the webhook example of docs/bridges.md as
// written — the configuration (the receiver's address substituted), the
// state published with mosquitto_pub — and checks that the receiver gets
// the request the page describes, signed with the documented secret.
func TestDocs_webhookExample(t *testing.T) {
	type request struct{ method, path, device, body string }
	var (
		mu   sync.Mutex
		got  []request
		sigs []error
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			return // the health check
		}
		body, err := webhook.VerifyRequest(r, []byte("s3cret-shared-with-the-receiver"), "X-Iothub-Signature", 1<<20)
		if err != nil {
			body, _ = io.ReadAll(r.Body)
		}
		mu.Lock()
		got = append(got, request{r.Method, r.URL.Path, r.Header.Get("X-Device"), string(body)})
		sigs = append(sigs, err)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h := startWebhookDocHub(t, srv.URL)
	out, err := mosquittoPub(t, port(h.mqtt), "-i", "10083618796833171", "-q", "1", "-t", "devices/10083618796833171/state",
		"-f", testutil.ScenarioPath(t, "doorlock/state.json")) // the page runs from the repository's root
	require.NoError(t, err, out)
	waitBridge(t, h, "lock_hook", "metrics", "sent", 1)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []request{{"POST", "/locks/10083618796833171", "10083618796833171",
		`{"clientid":"10083618796833171","battery":83.4}`}}, got)
	require.NoError(t, sigs[0], "X-Iothub-Signature: sha256=… over the body")
}

// TestDocs_postgresExample runs the PostgreSQL examples of
// docs/bridges.md as written — the lock_events table, the INSERT bridge,
// and the ready-made table bridge fed by the same rule — with the
// database URL substituted, and reads the rows back.
func TestDocs_postgresExample(t *testing.T) {
	pg := pgtest.Start(t)
	db := pg.Conn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sqls := docBlocks(t, "bridges.md", "PostgreSQL (", "sql")
	require.Len(t, sqls, 2)
	_, err := db.Exec(ctx, sqls[0]) // CREATE TABLE lock_events …
	require.NoError(t, err)
	yamls := docBlocks(t, "bridges.md", "PostgreSQL (", "yaml")
	require.Len(t, yamls, 2)
	cfg := yamls[0] + yamls[1] // the second is one more entry of bridges
	cfg = strings.ReplaceAll(cfg, "postgres://iothub@db.example:5432/iot?sslmode=verify-full", pg.URL)
	cfg = strings.ReplaceAll(cfg, "postgres://iothub@db.example:5432/iot", pg.URL)
	cfg = strings.Replace(cfg, "actions: [{type: bridge, bridge: lock_events}]", "actions: [{type: bridge, bridge: lock_events}, {type: bridge, bridge: lock_series}]", 1)
	require.NotContains(t, cfg, "db.example")
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", hubConfig(t, cfg))
	state, err := os.ReadFile(testutil.ScenarioPath(t, "doorlock/state.json"))
	require.NoError(t, err)
	out, err := mosquittoPub(t, port(h.mqtt), "-i", "10083618796833171", "-q", "1", "-t", "devices/10083618796833171/state",
		"-f", testutil.ScenarioPath(t, "doorlock/state.json")) // the page runs from the repository's root
	require.NoError(t, err, out)
	waitBridge(t, h, "lock_events", "metrics", "sent", 1)
	waitBridge(t, h, "lock_series", "metrics", "sent", 1)

	var device, topic, payload string
	var ts int64
	require.NoError(t, db.QueryRow(ctx, `SELECT device, ts, topic, payload FROM lock_events`).Scan(&device, &ts, &topic, &payload))
	require.Equal(t, "10083618796833171", device)
	require.Equal(t, "devices/10083618796833171/state", topic)
	require.Equal(t, string(state), payload, "stored as sent")
	require.InDelta(t, time.Now().UnixMilli(), ts, float64(10*time.Minute/time.Millisecond))
	var battery string
	require.NoError(t, db.QueryRow(ctx, `SELECT payload->>'battery' FROM lock_state WHERE device = '10083618796833171'`).Scan(&battery))
	require.Equal(t, "83.4", battery)
	var index string
	require.NoError(t, db.QueryRow(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'lock_state'`).Scan(&index))
	require.Equal(t, "lock_state_device_ts", index)
}

// TestDocs_webhookSlowReceiver runs the webhook example of docs/bridges.md
// as written (pool_size 4, the default batch_size 500 and send_timeout
// 10s) against a receiver that takes 100 ms per request: 120 records of 2
// devices all arrive, each exactly once, in order per device (issue 15.3:
// the same example once stalled at 64 sent, the receiver getting each
// record about four times, because a batch that was not answered within
// send_timeout was sent again whole).
func TestDocs_webhookSlowReceiver(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got = map[string][]string{} // X-Device → bodies in arrival order
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			return // the health check
		}
		body, _ := io.ReadAll(r.Body)
		time.Sleep(100 * time.Millisecond) // the receiver's own work
		mu.Lock()
		got[r.Header.Get("X-Device")] = append(got[r.Header.Get("X-Device")], string(body))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h := startWebhookDocHub(t, srv.URL)
	const devices, perDevice = 2, 60
	var wg sync.WaitGroup
	for d := range devices {
		c := pahoDeviceV5(t, h, fmt.Sprintf("lock-%d", d), paho.ClientConfig{}, true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perDevice {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				_, err := c.Publish(ctx, &paho.Publish{Topic: fmt.Sprintf("devices/lock-%d/state", d), QoS: 1,
					Payload: fmt.Appendf(nil, `{"battery":%d}`, i)})
				cancel()
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	waitBridge(t, h, "lock_hook", "metrics", "sent", devices*perDevice)
	mu.Lock()
	defer mu.Unlock()
	for d := range devices {
		var want []string
		for i := range perDevice {
			want = append(want, fmt.Sprintf(`{"clientid":"lock-%d","battery":%d}`, d, i))
		}
		require.Equal(t, want, got[fmt.Sprintf("lock-%d", d)], "device %d: every record once, in order", d)
	}
}
