package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge/webhook"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/testutil"
)

func newTestApp(t *testing.T, configure func(*config.Config)) (*App, *httptest.Server) {
	t.Helper()
	cfg := config.Defaults()
	if configure != nil {
		configure(&cfg)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	srv := httptest.NewServer(a.mux)
	t.Cleanup(srv.Close)
	return a, srv
}

func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	return testutil.Call(t, method, url, "", body)
}

func TestMetricsRoute(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*config.Config)
		status    int
		contains  string
	}{
		{"enabled by default", nil, http.StatusOK, "iothub_uptime_seconds"},
		{"disabled", func(c *config.Config) { c.Metrics.Enabled = false }, http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newTestApp(t, tc.configure)
			code, body := call(t, http.MethodGet, srv.URL+"/metrics", "")
			require.Equal(t, tc.status, code)
			require.Contains(t, body, tc.contains)
		})
	}
}

func TestTraceRoutes(t *testing.T) {
	a, srv := newTestApp(t, nil)
	code, _ := call(t, http.MethodPost, srv.URL+"/api/v1/trace/lock-1", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []string{"lock-1"}, a.broker.TracedClients())
	code, body := call(t, http.MethodGet, srv.URL+"/api/v1/trace", "")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"clients":["lock-1"]}`, body)
	code, _ = call(t, http.MethodDelete, srv.URL+"/api/v1/trace/lock-1", "")
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, a.broker.TracedClients())
}

func TestLogLevelRoutes(t *testing.T) {
	a, srv := newTestApp(t, nil)
	code, _ := call(t, http.MethodGet, srv.URL+"/api/v1/log/level", "")
	require.Equal(t, http.StatusServiceUnavailable, code, "no LevelVar given")
	lv := new(slog.LevelVar)
	a.UseLevelVar(lv)
	tests := []struct {
		body   string
		status int
		want   slog.Level
	}{
		{`{"level":"debug"}`, http.StatusOK, slog.LevelDebug},
		{`{"level":"ERROR"}`, http.StatusOK, slog.LevelError},
		{`{"level":"loud"}`, http.StatusBadRequest, slog.LevelError},
		{`{"lvl":"info"}`, http.StatusBadRequest, slog.LevelError},
		{`not json`, http.StatusBadRequest, slog.LevelError},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			code, body := call(t, http.MethodPut, srv.URL+"/api/v1/log/level", tc.body)
			require.Equal(t, tc.status, code, body)
			require.Equal(t, tc.want, lv.Level())
		})
	}
}

// TestMetricsRoute_bridges checks that the bridges' collector is wired:
// a bridge created through the API shows on /metrics.
func TestMetricsRoute_bridges(t *testing.T) {
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(peer.Close)
	a, srv := newTestApp(t, func(c *config.Config) { c.DataDir = t.TempDir() })
	require.NoError(t, a.Bridges().Start(nil))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, a.Bridges().Close(ctx))
	})
	def := config.NewBridge("hook", webhook.Type)
	def.Settings.(*webhook.Config).Webhook.URL = peer.URL
	_, err := a.Bridges().Create(def)
	require.NoError(t, err)

	code, body := call(t, http.MethodGet, srv.URL+"/metrics", "")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`iothub_bridge_up{bridge="hook",type="webhook"}`,
		`iothub_bridge_records_sent_total{bridge="hook",type="webhook"} 0`,
		`iothub_bridge_records_dropped_total{bridge="hook",reason="buffer_full"} 0`,
		`iothub_bridge_queued_records{bridge="hook",where="disk"} 0`,
		`iothub_bridge_send_latency_seconds_count{bridge="hook"} 0`,
	} {
		require.Contains(t, body, want)
	}
}
