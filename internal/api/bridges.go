package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/iothub-dev/iothub/bridge"
)

// BridgeManager manages the bridges (docs/bridges.md, "The API"). A
// definition travels as the JSON form of a `bridges` entry of the config
// file: the manager decodes and checks it (an error wrapping
// bridge.ErrInvalid names the key). The values it returns are written as
// the response bodies. Errors wrap the sentinels of package bridge:
// ErrNotFound, ErrExists, ErrReadOnly, ErrInvalid.
type BridgeManager interface {
	// List returns every bridge, in name order.
	List() any
	// Get returns the named bridge.
	Get(name string) (any, error)
	// Create adds a bridge from def and starts it (unless disabled).
	Create(def json.RawMessage) (any, error)
	// Update replaces the named bridge with def (whose name, if any, must be
	// name) and restarts it.
	Update(name string, def json.RawMessage) (any, error)
	// Delete stops and removes the named bridge and its disk queue.
	Delete(name string) error
	// Enable and Disable start and stop the named bridge.
	Enable(name string) (any, error)
	Disable(name string) (any, error)
	// Status returns the named bridge's connection state and last error.
	Status(name string) (bridge.Status, error)
	// Metrics returns the named bridge's counters.
	Metrics(name string) (any, error)
}

// bridgeRoutes are the endpoints of the bridges.
func (a *API) bridgeRoutes() []route {
	return []route{
		{"GET /api/v1/bridges", using(a.bridgeManager, a.listBridges)},
		{"POST /api/v1/bridges", using(a.bridgeManager, a.createBridge)},
		{"GET /api/v1/bridges/{name}", a.bridgeByName(BridgeManager.Get)},
		{"PUT /api/v1/bridges/{name}", using(a.bridgeManager, a.updateBridge)},
		{"DELETE /api/v1/bridges/{name}", using(a.bridgeManager, a.deleteBridge)},
		{"GET /api/v1/bridges/{name}/status", a.bridgeByName(func(m BridgeManager, name string) (any, error) { return m.Status(name) })},
		{"GET /api/v1/bridges/{name}/metrics", a.bridgeByName(BridgeManager.Metrics)},
		{"POST /api/v1/bridges/{name}/enable", a.bridgeByName(BridgeManager.Enable)},
		{"POST /api/v1/bridges/{name}/disable", a.bridgeByName(BridgeManager.Disable)},
	}
}

// bridgeManager returns the hub's bridge manager, or a 503 when there is
// none.
func (a *API) bridgeManager() (BridgeManager, error) {
	return component(a.o.Bridges, errorf(http.StatusServiceUnavailable, CodeNotReady, "the bridges are not running"))
}

func (a *API) listBridges(m BridgeManager, w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"data": m.List()})
	return nil
}

func (a *API) createBridge(m BridgeManager, w http.ResponseWriter, r *http.Request) error {
	var def json.RawMessage
	if err := decodeBody(r.Body, &def); err != nil {
		return err
	}
	in, err := m.Create(def)
	return reply(w, http.StatusCreated, in, err, func(err error) error { return bridgeError(err, "") })
}

func (a *API) updateBridge(m BridgeManager, w http.ResponseWriter, r *http.Request) error {
	var def json.RawMessage
	if err := decodeBody(r.Body, &def); err != nil {
		return err
	}
	name := r.PathValue("name")
	in, err := m.Update(name, def)
	return reply(w, http.StatusOK, in, err, func(err error) error { return bridgeError(err, name) })
}

func (a *API) deleteBridge(m BridgeManager, w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	return reply(w, http.StatusOK, map[string]string{"deleted": name}, m.Delete(name), func(err error) error { return bridgeError(err, name) })
}

// bridgeByName is a handler that calls one manager method on the bridge
// named in the path and writes its answer.
func (a *API) bridgeByName(call func(BridgeManager, string) (any, error)) handlerFunc {
	return using(a.bridgeManager, func(m BridgeManager, w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		v, err := call(m, name)
		return reply(w, http.StatusOK, v, err, func(err error) error { return bridgeError(err, name) })
	})
}

// bridgeError maps an error of bridge management to an *Error.
func bridgeError(err error, name string) error {
	switch {
	case errors.Is(err, bridge.ErrNotFound):
		return errorf(http.StatusNotFound, CodeBridgeNotFound, "no bridge %q", name)
	case errors.Is(err, bridge.ErrExists):
		return &Error{Status: http.StatusConflict, Code: CodeBridgeExists, Message: err.Error(), Err: err}
	case errors.Is(err, bridge.ErrReadOnly):
		return errorf(http.StatusConflict, CodeBridgeReadOnly,
			"bridge %q is defined in the configuration file: change the file and reload", name)
	case errors.Is(err, bridge.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidField, Message: err.Error(), Err: err}
	}
	return err
}
