package api

import (
	"errors"
	"net/http"
	"time"
)

// KeyAdmin manages the API keys; *KeyStore implements it.
type KeyAdmin interface {
	List() []KeyInfo
	CreateWithRole(name, role string) (string, KeyInfo, error)
	Revoke(id string) error
}

// keyRoutes are the endpoints of API keys: the same operations as
// `iothub apikey`.
func (a *API) keyRoutes() []route {
	return []route{
		{"GET /api/v1/apikeys", a.listKeys},
		{"POST /api/v1/apikeys", a.createKey},
		{"DELETE /api/v1/apikeys/{id}", a.revokeKey},
	}
}

// keyJSON is an API key as listed: never the key, nor its hash.
type keyJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// Role is "viewer" for a read-only key, absent otherwise.
	Role string `json:"role,omitempty"`
	// Key is the key itself, in the answer of POST only: the one time it
	// is shown.
	Key string `json:"key,omitempty"`
}

func (a *API) keyAdmin() (KeyAdmin, error) {
	if a.o.KeyAdmin == nil {
		return nil, errorf(http.StatusServiceUnavailable, CodeNotReady, "this hub has no API key store")
	}
	return a.o.KeyAdmin, nil
}

func (a *API) listKeys(w http.ResponseWriter, _ *http.Request) error {
	k, err := a.keyAdmin()
	if err != nil {
		return err
	}
	out := convertAll(k.List(), func(ki KeyInfo) keyJSON {
		return keyJSON{ID: ki.ID, Name: ki.Name, CreatedAt: ki.CreatedAt, Role: ki.Role}
	})
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

// keyBody is the body of POST /api/v1/apikeys.
type keyBody struct {
	Name string `json:"name"`
	// Role: "viewer" for a read-only key; absent: may do everything.
	Role string `json:"role"`
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.keyAdmin()
	if err != nil {
		return err
	}
	var b keyBody
	if err := decodeBody(r.Body, &b); err != nil {
		return err
	}
	if len(b.Name) > 100 {
		return badField("name", "at most 100 characters")
	}
	if b.Role != "" && b.Role != RoleViewer {
		return badField("role", "%q: must be %q or absent (a key that may do everything)", b.Role, RoleViewer)
	}
	key, info, err := k.CreateWithRole(b.Name, b.Role)
	if err != nil {
		return err
	}
	a.log.Warn("API key created through the API", "id", info.ID, "name", info.Name, "role", info.Role)
	writeJSON(w, http.StatusCreated, keyJSON{ID: info.ID, Name: info.Name, CreatedAt: info.CreatedAt, Role: info.Role, Key: key})
	return nil
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.keyAdmin()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := k.Revoke(id); errors.Is(err, ErrKeyNotFound) {
		return errorf(http.StatusNotFound, CodeKeyNotFound, "no API key with id %q", id)
	} else if err != nil {
		return err
	}
	a.log.Warn("API key revoked through the API", "id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
