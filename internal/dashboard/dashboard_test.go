package dashboard_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/dashboard"
)

func TestHandler(t *testing.T) {
	mux := http.NewServeMux()
	h := dashboard.Handler()
	mux.Handle("GET /{$}", h)
	mux.Handle("GET /ui/{file...}", h)
	tests := []struct {
		path, wantType, wantBody string
		status                   int
	}{
		{"/", "text/html", `<script type="module" src="/ui/app.js">`, 200},
		{"/ui/app.js", "javascript", "loadPages", 200},
		{"/ui/app.css", "text/css", "--accent", 200},
		{"/ui/pages/clients.js", "javascript", "export default", 200},
		{"/ui/pages.json", "application/json", `"clients"`, 200},
		{"/ui/", "", "", 404},
		{"/ui/nope.js", "", "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			require.Equal(t, tc.status, rec.Code)
			if tc.status != 200 {
				return
			}
			require.Equal(t, dashboard.CSP, rec.Header().Get("Content-Security-Policy"))
			require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
			require.Contains(t, rec.Header().Get("Content-Type"), tc.wantType)
			require.Contains(t, rec.Body.String(), tc.wantBody)
		})
	}
}

// Every page module is listed, and each one is a module with an id and a
// title (what the navigation needs).
func TestPages(t *testing.T) {
	pages := dashboard.Pages()
	require.Subset(t, pages, []string{"overview", "clients", "topics", "live", "rules", "bridges", "security"})
	raw, err := json.Marshal(pages)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(raw), `["`))
	for _, p := range pages {
		rec := httptest.NewRecorder()
		dashboard.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/pages/"+p+".js", nil))
		require.Equal(t, http.StatusOK, rec.Code, p)
		require.Contains(t, rec.Body.String(), "id: '"+p+"'", p)
		require.Contains(t, rec.Body.String(), "title:", p)
	}
}
