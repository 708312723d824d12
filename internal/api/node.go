package api

import (
	_ "embed" // openapi.json
	"net/http"
	"runtime"
	"time"
)

// openAPIDoc is the OpenAPI 3 document of the API, kept in the repository
// as internal/api/openapi.json.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3 document served at /api/v1/openapi.json.
func OpenAPI() []byte { return openAPIDoc }

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
	return nil
}

// nodeJSON answers GET /api/v1/node.
type nodeJSON struct {
	Name          string    `json:"name"`
	Version       string    `json:"version"`
	GoVersion     string    `json:"go_version"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds int64     `json:"uptime_seconds"`
}

func (a *API) node(w http.ResponseWriter, _ *http.Request) error {
	st := a.o.Broker.Stats()
	writeJSON(w, http.StatusOK, nodeJSON{
		Name: a.o.Broker.NodeName(), Version: a.o.Version, GoVersion: runtime.Version(),
		StartedAt: time.Now().Add(-st.Uptime).UTC().Truncate(time.Second), UptimeSeconds: int64(st.Uptime / time.Second),
	})
	return nil
}

// statsJSON answers GET /api/v1/node/stats.
type statsJSON struct {
	Node          string            `json:"node"`
	UptimeSeconds int64             `json:"uptime_seconds"`
	Connections   int64             `json:"connections"`
	Parked        int64             `json:"parked_connections"`
	Sessions      int64             `json:"sessions"`
	Subscriptions int64             `json:"subscriptions"`
	Retained      int               `json:"retained"`
	MessagesIn    uint64            `json:"messages_in"`
	MessagesOut   uint64            `json:"messages_out"`
	BytesIn       uint64            `json:"bytes_in"`
	BytesOut      uint64            `json:"bytes_out"`
	Inflight      int64             `json:"inflight"`
	Queued        int64             `json:"queued"`
	Dropped       map[string]uint64 `json:"dropped"`
}

func (a *API) nodeStats(w http.ResponseWriter, _ *http.Request) error {
	st := a.o.Broker.Stats()
	writeJSON(w, http.StatusOK, statsJSON{
		Node: a.o.Broker.NodeName(), UptimeSeconds: int64(st.Uptime / time.Second),
		Connections: st.Connections, Parked: st.ParkedConnections, Sessions: st.Sessions, Subscriptions: st.Subscriptions, Retained: st.Retained,
		MessagesIn: st.MessagesIn, MessagesOut: st.MessagesOut, BytesIn: st.BytesIn, BytesOut: st.BytesOut,
		Inflight: st.Inflight, Queued: st.Queued, Dropped: st.Dropped,
	})
	return nil
}

// ready answers GET /ready: 200 once the listeners are up, 503 before and
// while stopping.
func (a *API) ready(w http.ResponseWriter, _ *http.Request) error {
	if a.o.Ready != nil && !a.o.Ready() {
		return errorf(http.StatusServiceUnavailable, CodeNotReady, "the hub is starting or stopping")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
