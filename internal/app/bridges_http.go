package app

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/bridgemgr"
)

// bridgeRoutes registers the bridge endpoints (docs/bridges.md) on a.mux.
// They are under /api/v1/, so httpHandler requires an API key, and they
// answer errors in the API's shape: {"code": "...", "message": "..."}.
// (They live here rather than in internal/api until the API package takes
// a bridge manager in its Options; the handlers are thin over
// bridgemgr.Manager.)
func (a *App) bridgeRoutes() {
	m := func() *bridgemgr.Manager { return a.bridges.mgr }
	h := func(f func(r *http.Request) (int, any, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, int64(a.cfg.API.MaxBodyBytes))
			status, v, err := f(r)
			if err != nil {
				status, v = bridgeError(err)
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	a.mux.Handle("GET /api/v1/bridges", h(func(*http.Request) (int, any, error) {
		return http.StatusOK, map[string]any{"data": m().List()}, nil
	}))
	a.mux.Handle("POST /api/v1/bridges", h(func(r *http.Request) (int, any, error) {
		def, err := decodeBridge(r, "")
		if err != nil {
			return 0, nil, err
		}
		in, err := m().Create(def)
		return http.StatusCreated, in, err
	}))
	a.mux.Handle("GET /api/v1/bridges/{name}", h(func(r *http.Request) (int, any, error) {
		in, err := m().Get(r.PathValue("name"))
		return http.StatusOK, in, err
	}))
	a.mux.Handle("PUT /api/v1/bridges/{name}", h(func(r *http.Request) (int, any, error) {
		def, err := decodeBridge(r, r.PathValue("name"))
		if err != nil {
			return 0, nil, err
		}
		in, err := m().Update(def)
		return http.StatusOK, in, err
	}))
	a.mux.Handle("DELETE /api/v1/bridges/{name}", h(func(r *http.Request) (int, any, error) {
		return http.StatusOK, map[string]string{"deleted": r.PathValue("name")}, m().Delete(r.PathValue("name"))
	}))
	a.mux.Handle("GET /api/v1/bridges/{name}/status", h(func(r *http.Request) (int, any, error) {
		st, err := m().Status(r.PathValue("name"))
		return http.StatusOK, st, err
	}))
	a.mux.Handle("GET /api/v1/bridges/{name}/metrics", h(func(r *http.Request) (int, any, error) {
		mt, err := m().Metrics(r.PathValue("name"))
		return http.StatusOK, mt, err
	}))
	a.mux.Handle("POST /api/v1/bridges/{name}/enable", h(func(r *http.Request) (int, any, error) {
		in, err := m().Enable(r.PathValue("name"))
		return http.StatusOK, in, err
	}))
	a.mux.Handle("POST /api/v1/bridges/{name}/disable", h(func(r *http.Request) (int, any, error) {
		in, err := m().Disable(r.PathValue("name"))
		return http.StatusOK, in, err
	}))
}

// decodeBridge reads a bridge definition: the JSON form of a bridges
// entry, starting from the defaults (config.DefaultBridge), unknown keys
// refused. A PUT takes the name from the path.
func decodeBridge(r *http.Request, name string) (config.Bridge, error) {
	def := config.DefaultBridge()
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&def); err != nil {
		return def, &bridgeReqError{http.StatusBadRequest, "bad_request", "body: " + err.Error()}
	}
	if name != "" {
		if def.Name != "" && def.Name != name {
			return def, &bridgeReqError{http.StatusBadRequest, "invalid_field", "name: the body names " + def.Name + ", the path " + name}
		}
		def.Name = name
	}
	return def, nil
}

type bridgeReqError struct {
	status        int
	code, message string
}

func (e *bridgeReqError) Error() string { return e.message }

// bridgeError maps manager errors to the API's status and error body.
func bridgeError(err error) (int, any) {
	body := func(code string) map[string]string { return map[string]string{"code": code, "message": err.Error()} }
	var re *bridgeReqError
	switch {
	case errors.As(err, &re):
		return re.status, map[string]string{"code": re.code, "message": re.message}
	case errors.Is(err, bridgemgr.ErrNotFound):
		return http.StatusNotFound, body("bridge_not_found")
	case errors.Is(err, bridgemgr.ErrExists):
		return http.StatusConflict, body("bridge_exists")
	case errors.Is(err, bridgemgr.ErrReadOnly):
		return http.StatusConflict, body("bridge_read_only")
	case errors.Is(err, bridgemgr.ErrInvalid):
		return http.StatusBadRequest, body("invalid_field")
	}
	return http.StatusInternalServerError, body("internal_error")
}
