package integration

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBans_surviveRestart bans a door lock's client id through the HTTP
// API, restarts the hub on the same data directory, and shows that
// mosquitto_pub (MQTT 5) with that id is refused with "banned"; the ban,
// removed through the API, stays removed after another restart and the
// lock connects.
func TestBans_surviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := apikey(t, dir, "create", "--name", "ops")
	lock := []string{"-V", "mqttv5", "-i", "stolen-lock", "-q", "1", "-t", "devices/stolen-lock/state", "-m", `{"lock_state":1}`}

	h := startHubIn(t, dir, nil)
	_, err := mosquitto(t, h, "mosquitto_pub", lock...)
	require.NoError(t, err, "not banned yet")
	status, body := apiCall(t, h, http.MethodPost, "/api/v1/bans", key,
		`{"kind":"client_id","value":"stolen-lock","reason":"reported stolen"}`)
	require.Equal(t, http.StatusCreated, status, body)
	info, err := os.Stat(filepath.Join(dir, "bans.json"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	h.stop(t)

	h = startHubIn(t, dir, nil)
	status, body = apiCall(t, h, http.MethodGet, "/api/v1/bans", key, "")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `"value":"stolen-lock"`)
	require.Contains(t, body, `"reason":"reported stolen"`)
	out, err := mosquitto(t, h, "mosquitto_pub", lock...)
	require.Error(t, err, "banned after the restart: %s", out)
	require.Contains(t, strings.ToLower(out), "banned")

	status, body = apiCall(t, h, http.MethodDelete, "/api/v1/bans/client_id/stolen-lock", key, "")
	require.Equal(t, http.StatusNoContent, status, body)
	out, err = mosquitto(t, h, "mosquitto_pub", lock...)
	require.NoError(t, err, "ban lifted: %s", out)
	h.stop(t)

	h = startHubIn(t, dir, nil)
	status, body = apiCall(t, h, http.MethodGet, "/api/v1/bans", key, "")
	require.Equal(t, http.StatusOK, status, body)
	require.JSONEq(t, `{"data":[]}`, body, "the removal survives the restart too")
	out, err = mosquitto(t, h, "mosquitto_pub", lock...)
	require.NoError(t, err, "still not banned: %s", out)
}
