package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/stretchr/testify/require"
)

// startPrometheus runs Debian's prometheus on a free loopback port with a
// temporary config (scraping target every second) and storage directory,
// waits until it is ready and stops it when the test ends. It returns the
// base URL of its HTTP API.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin := tool(t, "prometheus")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: iothub
    metrics_path: /metrics
    static_configs:
      - targets: [%q]
`, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	addr := freePort(t)
	logs, exited := startService(t, "prometheus", exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn"))
	base := "http://" + addr
	poll(t, 60*time.Second, "prometheus ready", func() bool {
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", logs.String())
		default:
		}
		code, _ := httpGet(base + "/-/ready")
		return code == http.StatusOK
	})
	return base
}

// poll calls cond until it returns true, failing the test after timeout.
// For state that offers no event to wait on (a scrape, a query result).
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(u string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// promQuery runs an instant query and returns the value of its first
// sample (ok false when the result is empty).
func promQuery(t *testing.T, base, query string) (float64, bool) {
	t.Helper()
	code, body := httpGet(base + "/api/v1/query?query=" + url.QueryEscape(query))
	require.Equalf(t, http.StatusOK, code, "query %s: %s", query, body)
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &r), body)
	require.Equal(t, "success", r.Status, body)
	if len(r.Data.Result) == 0 {
		return 0, false
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err, body)
	return v, true
}

// TestPrometheus_scrapesCounters has a real Prometheus scrape the hub's
// /metrics and reads a message counter back through Prometheus's HTTP API.
func TestPrometheus_scrapesCounters(t *testing.T) {
	t.Parallel()
	h := startHub(t, nil)
	for i := range 3 {
		pub(t, h, "-q", "1", "-t", "prom/test", "-m", strconv.Itoa(i))
	}
	base := startPrometheus(t, h.api)
	poll(t, 60*time.Second, "iothub scraped", func() bool {
		v, ok := promQuery(t, base, `up{job="iothub"}`)
		return ok && v == 1
	})
	poll(t, 30*time.Second, "QoS 1 messages counted", func() bool {
		v, ok := promQuery(t, base, `iothub_messages_received_total{job="iothub",qos="1"}`)
		return ok && v >= 3
	})
	v, ok := promQuery(t, base, `iothub_connects_total{job="iothub",protocol_version="3.1.1"}`)
	require.True(t, ok)
	require.GreaterOrEqual(t, v, 3.0)
	_, ok = promQuery(t, base, `go_goroutines{job="iothub"}`)
	require.True(t, ok, "Go runtime metrics are exported")
}

// TestObservability_traceAndLogLevel turns on the trace of one client
// through the API and finds its packets in the hub's log, then changes the
// log level at run time.
func TestObservability_traceAndLogLevel(t *testing.T) {
	t.Parallel()
	h := startHub(t, []string{"IOTHUB_API_KEY=" + traceTestKey})
	api := "http://" + h.api
	code, body := httpDo(t, http.MethodPost, api+"/api/v1/trace/traced-device", "")
	require.Equal(t, http.StatusOK, code, body)
	code, body = httpDo(t, http.MethodGet, api+"/api/v1/trace", "")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"clients":["traced-device"]}`, body)

	pub(t, h, "-i", "traced-device", "-q", "1", "-t", "devices/traced-device/state", "-m", `{"battery":83.4}`)
	poll(t, 10*time.Second, "trace lines in the log", func() bool {
		logs := h.logs.String()
		return strings.Contains(logs, "client_id=traced-device dir=in type=PUBLISH") &&
			strings.Contains(logs, "topic=devices/traced-device/state") &&
			strings.Contains(logs, "client_id=traced-device dir=out type=PUBACK")
	})
	code, _ = httpDo(t, http.MethodDelete, api+"/api/v1/trace/traced-device", "")
	require.Equal(t, http.StatusOK, code)

	code, body = httpDo(t, http.MethodPut, api+"/api/v1/log/level", `{"level":"warn"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = httpDo(t, http.MethodGet, api+"/api/v1/log/level", "")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"level":"warn"}`, body)
	code, _ = httpDo(t, http.MethodPut, api+"/api/v1/log/level", `{"level":"loud"}`)
	require.Equal(t, http.StatusBadRequest, code)
}

// traceTestKey is the bootstrap API key (api.key) of the trace test's hub.
const traceTestKey = "trace-test-key-0123456789"

// httpDo sends an API request with the trace test's key.
func httpDo(t *testing.T, method, u, body string) (int, string) {
	t.Helper()
	return testutil.Call(t, method, u, traceTestKey, body)
}
