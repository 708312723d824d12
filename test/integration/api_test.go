package integration

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/stretchr/testify/require"
)

// apiCall sends an HTTP API request with key ("" for none) and returns
// the status and body.
func apiCall(t *testing.T, h *hub, method, path, key, body string) (int, string) {
	t.Helper()
	return testutil.Call(t, method, "http://"+h.api+path, key, body)
}

// apikey runs `iothub apikey ARGS --data-dir DIR` and returns its stdout.
func apikey(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(hubBinary, append(append([]string{"apikey"}, args...), "--data-dir", dataDir)...)
	cmd.Env = os.Environ()
	out, err := cmd.Output()
	require.NoError(t, err, "iothub apikey %v", args)
	return strings.TrimSpace(string(out))
}

var firstKeyLine = regexp.MustCompile(`created the first HTTP API key.* api_key=(ihk_[A-Za-z0-9_-]+)`)

// TestAPI_keysAndDoorLockCommand starts a hub with no key: it creates one
// and logs it once; keys made with `iothub apikey` work at once and stop
// working when revoked; a door lock (paho, MQTT 5) gets an unlock command
// through the API, which answers acked.
func TestAPI_keysAndDoorLockCommand(t *testing.T) {
	t.Parallel()
	h := startHub(t, nil)
	first := waitLogged(t, h, firstKeyLine, "the first key is logged")

	code, body := apiCall(t, h, http.MethodGet, "/health", "", "")
	require.Equal(t, http.StatusOK, code, body)
	code, body = apiCall(t, h, http.MethodGet, "/ready", "", "")
	require.Equal(t, http.StatusOK, code, body)
	code, body = apiCall(t, h, http.MethodGet, "/api/v1/node", "", "")
	require.Equal(t, http.StatusUnauthorized, code, body)
	require.Contains(t, body, `"code":"unauthorized"`)
	code, _ = apiCall(t, h, http.MethodGet, "/api/v1/trace", "", "")
	require.Equal(t, http.StatusUnauthorized, code, "the observability routes need a key too")
	code, body = apiCall(t, h, http.MethodGet, "/api/v1/node", first, "")
	require.Equal(t, http.StatusOK, code, body)

	ops := apikey(t, h.dataDir, "create", "--name", "ops")
	code, _ = apiCall(t, h, http.MethodGet, "/api/v1/node/stats", ops, "")
	require.Equal(t, http.StatusOK, code)
	list := apikey(t, h.dataDir, "list")
	require.Contains(t, list, "ops")
	require.NotContains(t, list, ops, "list never shows a key")
	id := strings.Fields(strings.Split(list, "\n")[2])[0] // header, initial, ops
	apikey(t, h.dataDir, "revoke", id)
	code, _ = apiCall(t, h, http.MethodGet, "/api/v1/node/stats", ops, "")
	require.Equal(t, http.StatusUnauthorized, code, "revoked")

	lock := pahoDevice(t, h, "10083618796833171")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := lock.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/10083618796833171/command", QoS: 1}}})
	require.NoError(t, err)
	cmd, err := os.ReadFile(testutil.ScenarioPath(t, "doorlock/command.json"))
	require.NoError(t, err)
	code, body = apiCall(t, h, http.MethodPost, "/api/v1/devices/10083618796833171/commands", first,
		`{"payload":`+string(cmd)+`,"wait":"acked","timeout":"20s"}`)
	require.Equal(t, http.StatusOK, code, body)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &res))
	require.Equal(t, "acked", res["status"])
	require.NotEmpty(t, res["acked_at"])
}

// TestAPI_bootstrapKey gives the key with IOTHUB_API_KEY: no key is
// created, and the bootstrap key is never printed.
func TestAPI_bootstrapKey(t *testing.T) {
	t.Parallel()
	const key = "bootstrap-key-for-the-api-test"
	h := startHub(t, []string{"IOTHUB_API_KEY=" + key})
	code, body := apiCall(t, h, http.MethodGet, "/api/v1/clients", key, "")
	require.Equal(t, http.StatusOK, code, body)
	code, _ = apiCall(t, h, http.MethodGet, "/api/v1/clients", "wrong-key-0123456789", "")
	require.Equal(t, http.StatusUnauthorized, code)
	require.NotContains(t, h.logs.String(), key)
	require.NotContains(t, h.logs.String(), "created the first HTTP API key")
	_, err := os.Stat(h.dataDir + "/apikeys.json")
	require.ErrorIs(t, err, os.ErrNotExist)
}

// pahoDevice connects an MQTT 5 paho.golang client to the hub.
func pahoDevice(t *testing.T, h *hub, id string) *paho.Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", h.mqtt, 5*time.Second)
	require.NoError(t, err)
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}
