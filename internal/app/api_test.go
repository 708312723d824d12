package app

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/api"
)

// TestAPI_appRoutesDocumented checks that the routes this package mounts
// (x-iothub-mounted-by: app in openapi.json) are served by the App's mux,
// and that everything under /api/v1 needs a key.
func TestAPI_appRoutesDocumented(t *testing.T) {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.API.Key = "app-test-key-0123456789"
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	var doc struct {
		Paths map[string]map[string]struct {
			MountedBy string `json:"x-iothub-mounted-by"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(api.OpenAPI(), &doc))
	param := regexp.MustCompile(`\{[a-z]+\}`)
	h := a.httpHandler()
	n := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			method = strings.ToUpper(method)
			req := httptest.NewRequest(method, param.ReplaceAllString(path, "x"), nil)
			_, pattern := a.mux.Handler(req)
			require.Equal(t, method+" "+muxPath(path), pattern, "documented %s %s", method, path)
			if op.MountedBy == "app" {
				n++
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if strings.HasPrefix(path, "/api/v1/") && !strings.HasPrefix(path, "/api/v1/auth/") { // signing in needs no key
				require.Equal(t, http.StatusUnauthorized, rec.Code, "%s %s without a key", method, path)
			}
		}
	}
	require.Positive(t, n)

	req := httptest.NewRequest(http.MethodGet, "/api/v1/trace", nil)
	req.Header.Set("Authorization", "Bearer "+string(cfg.API.Key))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
}

// TestAPI_everyServedRouteDocumented holds every route the App serves
// (the patterns registered on a.mux by this package: bridges,
// observability, /health; plus the API's own routes) against openapi.json
// both ways, so a route added anywhere without documentation, or a
// documented route nobody serves, fails.
func TestAPI_everyServedRouteDocumented(t *testing.T) {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Metrics.Enabled = true // GET /metrics is registered only then
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	served := append(a.mux.Patterns(), a.api.api.Routes()...)
	slices.Sort(served)
	require.Equal(t, len(served), len(slices.Compact(slices.Clone(served))), "a pattern registered twice: %v", served)

	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(api.OpenAPI(), &doc))
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+muxPath(path))
		}
	}
	slices.Sort(documented)

	for _, p := range served {
		require.Contains(t, documented, p, "%s is served but not in internal/api/openapi.json", p)
	}
	for _, p := range documented {
		require.Contains(t, served, p, "%s is in internal/api/openapi.json but not served", p)
	}
	require.Contains(t, served, "GET /api/v1/bridges/{name}/metrics")
}

// muxPath turns an OpenAPI path into its ServeMux pattern: {topic},
// {value} and {file} hold slashes, and "/" is the dashboard's page alone.
func muxPath(p string) string {
	if p == "/" {
		return "/{$}"
	}
	return strings.NewReplacer("{topic}", "{topic...}", "{value}", "{value...}", "{file}", "{file...}").Replace(p)
}
