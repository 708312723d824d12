package bridgemgr_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge/webhook"
	"github.com/iothub-dev/iothub/internal/bridgemgr"
)

// TestManager_legacyStore: a bridges.json written by the previous format
// (version 1, testdata/bridges_v1.json) loads; the next change writes the
// current format, which loads to the same bridges.
func TestManager_legacyStore(t *testing.T) {
	dir := t.TempDir()
	v1, err := os.ReadFile("testdata/bridges_v1.json")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, bridgemgr.StoreFile), v1, 0o600))

	m := bridgemgr.New(bridgemgr.Options{DataDir: dir})
	require.NoError(t, m.Start(nil))
	before := m.List()
	require.Len(t, before, 3)
	hook := before[0]
	require.Equal(t, "lock_hook", hook.Name)
	require.Equal(t, 40, hook.BatchSize, "producer.batch_size of version 1")
	require.True(t, hook.TLS.InsecureSkipVerify, "webhook.tls of version 1")
	require.Equal(t, "http://127.0.0.1:18090/locks/${clientid}", hook.Settings.(*webhook.Config).Webhook.URL)
	shown, err := json.Marshal(hook)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(shown, &got))
	require.Equal(t, "<redacted>", got["webhook"].(map[string]any)["secret"])
	require.Equal(t, "api", got["source"])
	require.NotContains(t, got, "redis")

	_, err = m.Disable("lock_latest")
	require.NoError(t, err)
	require.NoError(t, m.Close(context.Background()))
	data, err := os.ReadFile(filepath.Join(dir, bridgemgr.StoreFile))
	require.NoError(t, err)
	var doc struct {
		Version int
		Bridges []map[string]any
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	require.Equal(t, 2, doc.Version)
	require.NotContains(t, doc.Bridges[0], "producer")
	require.Equal(t, "s3cret", doc.Bridges[0]["webhook"].(map[string]any)["secret"], "the store keeps the secret")

	m = bridgemgr.New(bridgemgr.Options{DataDir: dir})
	require.NoError(t, m.Start(nil))
	t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
	after := m.List()
	require.Len(t, after, 3)
	for i := range before {
		require.Equal(t, before[i].Bridge.Name, after[i].Bridge.Name)
		if before[i].Name != "lock_latest" {
			require.Equal(t, before[i].Bridge, after[i].Bridge)
		}
	}
	require.False(t, after[1].Enabled)
}

// TestDecodeDefinition: an API definition in the previous shape is
// accepted with warnings; one naming another bridge than the path is not.
func TestDecodeDefinition(t *testing.T) {
	def, warns, err := bridgemgr.DecodeDefinition([]byte(`{"type":"webhook","webhook":{"url":"http://h/","tls":{"ca_file":""}},"producer":{"send_timeout":"2s"}}`), "hook")
	require.NoError(t, err)
	require.Equal(t, "hook", def.Name)
	require.Equal(t, "2s", def.SendTimeout.String())
	require.Equal(t, []string{"producer.send_timeout: deprecated: use send_timeout", "webhook.tls: deprecated: use tls"}, warns)
	_, _, err = bridgemgr.DecodeDefinition([]byte(`{"name":"other"}`), "hook")
	require.ErrorIs(t, err, bridgemgr.ErrInvalid)
	_, _, err = bridgemgr.DecodeDefinition([]byte(`{"name":"x","type":"webhook","kafka":{}}`), "")
	require.ErrorIs(t, err, bridgemgr.ErrInvalid)
	require.ErrorContains(t, err, `unknown key "kafka" (a key of kafka_producer bridges, not of "webhook")`)
}
