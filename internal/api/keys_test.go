package api_test

import (
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
