package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/api"
)

func TestKeyStore_createCheckRevoke(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", api.KeyFile)
	server, err := api.OpenKeyStore(path)
	require.NoError(t, err)
	require.False(t, server.Exists())

	// Another process (the CLI) creates a key: the server sees it.
	cli, err := api.OpenKeyStore(path)
	require.NoError(t, err)
	key, info, err := cli.Create("ops")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(key, "ihk_"))
	id, ok := server.Check(key)
	require.True(t, ok)
	require.Equal(t, info.ID, id)

	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotContains(t, string(raw), key, "only the hash is stored")

	require.Len(t, server.List(), 1)
	require.NoError(t, cli.Revoke(info.ID))
	_, ok = server.Check(key)
	require.False(t, ok, "revoked by the other process")
	require.ErrorIs(t, cli.Revoke(info.ID), api.ErrKeyNotFound)

	server.SetBootstrap("bootstrap-key-0123456789")
	id, ok = server.Check("bootstrap-key-0123456789")
	require.True(t, ok)
	require.Equal(t, "bootstrap", id)
	_, ok = server.Check("")
	require.False(t, ok)
}

func TestKeyStore_badFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), api.KeyFile)
	for _, content := range []string{`{`, `{"version":2,"keys":[]}`, `{"version":1,"keys":[{"id":"a","hash":"md5:00"}]}`} {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		_, err := api.OpenKeyStore(path)
		require.ErrorIs(t, err, api.ErrBadKeyFile, content)
	}
}

// TestKeys_viewerIsReadOnly: a key created with role viewer (API or CLI)
// reads everything and runs the testers, and every change it asks for is
// refused with 403 read_only_role; the role shows in the key list.
func TestKeys_viewerIsReadOnly(t *testing.T) {
	var store *api.KeyStore
	e := newEnv(t, func(o *api.Options) { store = o.Keys.(*api.KeyStore); o.KeyAdmin = store })
	st, b := e.call(t, http.MethodPost, "/api/v1/apikeys", map[string]any{"name": "grafana", "role": "viewer"})
	require.Equal(t, http.StatusCreated, st, string(b))
	var created struct{ ID, Key, Role string }
	require.NoError(t, json.Unmarshal(b, &created))
	require.Equal(t, "viewer", created.Role)

	tests := []struct {
		method, path string
		body         any
		want         int
	}{
		{http.MethodGet, "/api/v1/node", nil, http.StatusOK},
		{http.MethodGet, "/api/v1/clients", nil, http.StatusOK},
		{http.MethodGet, "/api/v1/apikeys", nil, http.StatusOK},
		{http.MethodPost, "/api/v1/acl/check", map[string]any{"client_id": "c", "action": "publish", "topic": "t"}, http.StatusOK},
		{http.MethodPost, "/api/v1/publish", map[string]any{"topic": "t", "payload": "x"}, http.StatusForbidden},
		{http.MethodPost, "/api/v1/apikeys", map[string]any{"name": "escalate"}, http.StatusForbidden},
		{http.MethodDelete, "/api/v1/apikeys/" + created.ID, nil, http.StatusForbidden},
		{http.MethodDelete, "/api/v1/clients/someone", nil, http.StatusForbidden},
	}
	for _, tc := range tests {
		st, b := e.callKey(t, tc.method, tc.path, tc.body, created.Key)
		require.Equal(t, tc.want, st, "%s %s: %s", tc.method, tc.path, b)
		if tc.want == http.StatusForbidden {
			require.Contains(t, string(b), "read_only_role")
		}
	}
	st, b = e.call(t, http.MethodPost, "/api/v1/apikeys", map[string]any{"name": "x", "role": "root"})
	require.Equal(t, http.StatusBadRequest, st, string(b))
	require.Equal(t, "viewer", store.Role(created.ID))
	require.Len(t, store.List(), 2, "the refused creations made no key")
}
