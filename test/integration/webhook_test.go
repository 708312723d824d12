package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge/webhook"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// TestWebhook_doorLock: the rule SELECT clientid, payload.battery AS
// battery feeds a webhook bridge POSTing to /locks/${clientid} with a
// signature; the receiver verifies it, answers 503 to the first two
// requests (retried) and 400 to a state with battery -1 (dropped, not
// retried), over at most pool_size connections.
func TestWebhook_doorLock(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-shared-with-the-receiver"
	var (
		mu     sync.Mutex
		bodies []string
		paths  []string
		calls  atomic.Int64
		conns  atomic.Int64
		badSig atomic.Int64
		got400 atomic.Int64
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead { // the bridge's health check (webhook.health_url)
			return
		}
		body, err := webhook.VerifyRequest(r, []byte(secret), "X-Iothub-Signature", 1<<20)
		if err != nil {
			badSig.Add(1)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if calls.Add(1) <= 2 {
			http.Error(w, "starting up", http.StatusServiceUnavailable)
			return
		}
		var v struct{ Battery float64 }
		if json.Unmarshal(body, &v) != nil || v.Battery < 0 {
			got400.Add(1)
			http.Error(w, "bad battery", http.StatusBadRequest)
			return
		}
		mu.Lock()
		bodies = append(bodies, string(body))
		paths = append(paths, r.URL.Path+" "+r.Header.Get("X-Device"))
		mu.Unlock()
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	cfg := hubConfig(t, ruleToBridge("lock_battery", `SELECT clientid, payload.battery AS battery FROM "devices/+/state"`, "lock_hook")+fmt.Sprintf(`  - name: lock_hook
    type: webhook
    webhook:
      url: %s/locks/${clientid}
      headers:
        - key: X-Device
          value: ${clientid}
      secret: %s
      pool_size: 2
`, srv.URL, secret))
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", cfg)

	const lock = "10083618796833171"
	c := pahoDeviceV5(t, h, lock, paho.ClientConfig{}, true)
	publish1(t, c, "devices/"+lock+"/state", testutil.Scenario(t, "doorlock/state.json"))
	waitBridge(t, h, "lock_hook", "metrics", "sent", 1)
	publish1(t, c, "devices/"+lock+"/state", []byte(`{"battery":-1}`))
	waitBridge(t, h, "lock_hook", "metrics", "failed", 1) // two 503s (retried), then one 400 (refused for good)
	publish1(t, c, "devices/"+lock+"/state", []byte(`{"battery":82}`))
	waitBridge(t, h, "lock_hook", "metrics", "sent", 2)

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{`{"clientid":"` + lock + `","battery":83.4}`, `{"clientid":"` + lock + `","battery":82}`}, bodies)
	require.Equal(t, []string{"/locks/" + lock + " " + lock, "/locks/" + lock + " " + lock}, paths)
	require.Zero(t, badSig.Load())
	require.EqualValues(t, 1, got400.Load(), "the 400 was not retried")
	require.LessOrEqual(t, conns.Load(), int64(2))
	m := bridgeGet(t, h, "lock_hook", "metrics")
	require.EqualValues(t, 1, m["retried"], "records retried, not attempts")
	require.EqualValues(t, 1, m["dead_lettered"])
	require.Empty(t, m["dropped"])
	dead, err := os.ReadFile(filepath.Join(h.dataDir, "bridges", "lock_hook", "dead_letter.jsonl"))
	require.NoError(t, err)
	var d struct{ Error, Value string }
	require.NoError(t, json.Unmarshal(dead, &d), "%s", dead)
	require.Equal(t, `{"clientid":"`+lock+`","battery":-1}`, d.Value)
	require.Contains(t, d.Error, "400 Bad Request")
}
