package app

import "net/http"

// routes registers the HTTP endpoints on a.mux. Each feature adds its routes
// here: the API under /api/v1, /metrics, /health and /ready.
func (a *App) routes() {
	a.mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	a.observabilityRoutes()
}
