package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/internal/device/registry"
)

// RegistryManager is the device registry; *registry.Registry implements
// it (docs/devices.md).
type RegistryManager interface {
	Create(s registry.Spec) (registry.Device, error)
	Update(s registry.Spec) (registry.Device, error)
	Delete(id string) error
	Info(id string) (registry.Info, error)
	List(f registry.Filter, after string, limit int) ([]registry.Info, bool, error)
	Import(in io.Reader, format string, upsert bool) (registry.ImportResult, error)
}

// registryRoutes are the endpoints of the device registry.
func (a *API) registryRoutes() []route {
	return []route{
		{"GET /api/v1/devices", using(a.registry, a.listDevices)},
		{"POST /api/v1/devices", using(a.registry, a.createDevice)},
		{"POST /api/v1/devices/import", using(a.registry, a.importDevices)},
		{"GET /api/v1/devices/{clientid}", using(a.registry, a.getDevice)},
		{"PATCH /api/v1/devices/{clientid}", using(a.registry, a.updateDevice)},
		{"DELETE /api/v1/devices/{clientid}", using(a.registry, a.deleteDevice)},
	}
}

// deviceJSON is a device in answers: the password hash is never shown.
type deviceJSON struct {
	ID              string            `json:"id"`
	Attributes      map[string]string `json:"attributes"`
	Groups          []string          `json:"groups"`
	Enabled         bool              `json:"enabled"`
	HasPassword     bool              `json:"has_password"`
	CertFingerprint string            `json:"cert_fingerprint,omitempty"`
	Version         int64             `json:"version"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
	Connected       bool              `json:"connected"`
	Node            string            `json:"node,omitempty"`
	LastSeen        *time.Time        `json:"last_seen,omitempty"`
}

func toDeviceJSON(i registry.Info) deviceJSON {
	d := deviceJSON{ID: i.ID, Attributes: i.Attributes, Groups: i.Groups, Enabled: i.Enabled,
		HasPassword: i.PasswordHash != "", CertFingerprint: i.CertFingerprint, Version: i.Version,
		CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt, Connected: i.Connected, Node: i.Node}
	if d.Attributes == nil {
		d.Attributes = map[string]string{}
	}
	if d.Groups == nil {
		d.Groups = []string{}
	}
	if !i.LastSeen.IsZero() {
		t := i.LastSeen
		d.LastSeen = &t
	}
	return d
}

// registry returns the registry, or a 503 when the device services are off.
func (a *API) registry() (RegistryManager, error) {
	return component(a.o.Devices, devicesOff())
}

// registryError maps a registry error to an *Error.
func registryError(err error) error {
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeDeviceNotFound, Message: err.Error(), Err: err}
	case errors.Is(err, registry.ErrExists):
		return &Error{Status: http.StatusConflict, Code: CodeDeviceExists, Message: err.Error(), Err: err}
	case errors.Is(err, registry.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidDevice, Message: err.Error(), Err: err}
	}
	return err
}

// deviceFilter reads the list filters: prefix, group, enabled,
// connected, and attr.NAME=VALUE.
func deviceFilter(r *http.Request) (registry.Filter, error) {
	q := r.URL.Query()
	f := registry.Filter{Prefix: q.Get("prefix"), Group: q.Get("group")}
	for _, name := range []string{"enabled", "connected"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, badField(name, "%q: want true or false", v)
		}
		if name == "enabled" {
			f.Enabled = &b
		} else {
			f.Connected = &b
		}
	}
	for k, vs := range q {
		if name, ok := strings.CutPrefix(k, "attr."); ok && len(vs) > 0 {
			if f.Attributes == nil {
				f.Attributes = map[string]string{}
			}
			f.Attributes[name] = vs[0]
		}
	}
	return f, nil
}

func (a *API) listDevices(m RegistryManager, w http.ResponseWriter, r *http.Request) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	f, err := deviceFilter(r)
	if err != nil {
		return err
	}
	infos, more, err := m.List(f, after, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(convertAll(infos, toDeviceJSON), limit, more, func(d deviceJSON) string { return d.ID }))
	return nil
}

func (a *API) createDevice(m RegistryManager, w http.ResponseWriter, r *http.Request) error {
	var s registry.Spec
	if err := decodeBody(r.Body, &s); err != nil {
		return err
	}
	d, err := m.Create(s)
	return reply(w, http.StatusCreated, toDeviceJSON(registry.Info{Device: d}), err, registryError)
}

func (a *API) getDevice(m RegistryManager, w http.ResponseWriter, r *http.Request) error {
	info, err := m.Info(r.PathValue("clientid"))
	return reply(w, http.StatusOK, toDeviceJSON(info), err, registryError)
}

func (a *API) updateDevice(m RegistryManager, w http.ResponseWriter, r *http.Request) error {
	var s registry.Spec
	if err := decodeBody(r.Body, &s); err != nil {
		return err
	}
	id := r.PathValue("clientid")
	if s.ID != "" && s.ID != id {
		return badField("id", "%q differs from the path's %q: a device's id cannot change", s.ID, id)
	}
	s.ID = id
	if _, err := m.Update(s); err != nil {
		return registryError(err)
	}
	info, err := m.Info(id)
	return reply(w, http.StatusOK, toDeviceJSON(info), err, registryError)
}

func (a *API) deleteDevice(m RegistryManager, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("clientid")
	return reply(w, http.StatusOK, map[string]string{"deleted": id}, m.Delete(id), registryError)
}

// importDevices reads CSV or JSON lines (?format=, else from the
// Content-Type) up to Options.MaxImportBytes.
func (a *API) importDevices(m RegistryManager, w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "jsonl"
		if strings.Contains(r.Header.Get("Content-Type"), "csv") {
			format = "csv"
		}
	}
	upsert := r.URL.Query().Get("upsert") == "true"
	body := http.MaxBytesReader(w, r.Body, a.o.MaxImportBytes)
	res, err := m.Import(body, format, upsert)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return jsonError(err)
	}
	if err != nil {
		return registryError(err)
	}
	if res.Failed == nil {
		res.Failed = []registry.ImportError{}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
