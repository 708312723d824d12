package api

import (
	"context"
	"io"
	"net/http"

	"github.com/iothub-dev/iothub/internal/device/shadow"
)

// ShadowManager reads and writes device shadows; *shadow.Service
// implements it (docs/devices.md). Documents are AWS IoT's shadow
// documents; errors are *shadow.Error with AWS's codes and messages.
type ShadowManager interface {
	Get(ctx context.Context, thing, name string) ([]byte, error)
	Update(ctx context.Context, thing, name string, doc []byte) ([]byte, error)
	Delete(ctx context.Context, thing, name string) ([]byte, error)
	Names(thing, after string, limit int) ([]string, bool, error)
}

// shadowRoutes are the endpoints of device shadows. ?name= selects a
// named shadow, as in AWS's REST API; without it, the classic shadow.
func (a *API) shadowRoutes() []route {
	return []route{
		{"GET /api/v1/devices/{clientid}/shadow", a.shadowCall(func(m ShadowManager, r *http.Request, thing, name string, _ []byte) ([]byte, error) {
			return m.Get(r.Context(), thing, name)
		})},
		{"POST /api/v1/devices/{clientid}/shadow", a.shadowCall(func(m ShadowManager, r *http.Request, thing, name string, body []byte) ([]byte, error) {
			return m.Update(r.Context(), thing, name, body)
		})},
		{"DELETE /api/v1/devices/{clientid}/shadow", a.shadowCall(func(m ShadowManager, r *http.Request, thing, name string, _ []byte) ([]byte, error) {
			return m.Delete(r.Context(), thing, name)
		})},
		{"GET /api/v1/devices/{clientid}/shadows", using(a.shadowManager, a.listShadows)},
	}
}

// shadowManager returns the shadow service, or a 503 when it is off.
func (a *API) shadowManager() (ShadowManager, error) {
	return component(a.o.Shadows, devicesOff())
}

// shadowError maps a shadow service error to an *Error that keeps AWS's
// status and message.
func shadowError(err error) error {
	e, ok := shadow.AsError(err)
	if !ok {
		return err
	}
	code := CodeInvalidShadow
	switch e.Code {
	case http.StatusNotFound:
		code = CodeShadowNotFound
	case http.StatusConflict:
		code = CodeVersionConflict
	case http.StatusTooManyRequests:
		code = CodeBusy
	case http.StatusInternalServerError:
		return err
	}
	return &Error{Status: e.Code, Code: code, Message: e.Message, Err: err}
}

// writeRawJSON writes a JSON document as it is.
func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) //nolint:gosec // a JSON document the shadow service built, served as application/json
}

// shadowCall adapts one ShadowManager call (its body read whole) to a
// handler that answers the shadow document.
func (a *API) shadowCall(call func(m ShadowManager, r *http.Request, thing, name string, body []byte) ([]byte, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		m, err := a.shadowManager()
		if err != nil {
			return err
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return jsonError(err)
		}
		b, err := call(m, r, r.PathValue("clientid"), r.URL.Query().Get("name"), body)
		if err != nil {
			return shadowError(err)
		}
		writeRawJSON(w, http.StatusOK, b)
		return nil
	}
}

func (a *API) listShadows(m ShadowManager, w http.ResponseWriter, r *http.Request) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	names, more, err := m.Names(r.PathValue("clientid"), after, limit)
	return reply(w, http.StatusOK, newPage(names, limit, more, func(n string) string { return n }), err, nil)
}
