package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// devicesCLI runs `iothub devices ARGS` against h's API with stdin.
func devicesCLI(t *testing.T, h *hub, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(hubBinary, append([]string{"devices"}, args...)...)
	cmd.Env = append(os.Environ(), "IOTHUB_API_URL=http://"+h.api, "IOTHUB_API_KEY="+apiKey)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestRegistry_credentialsCLIAndImport registers devices with the CLI and
// a CSV import, and checks that the "devices" authenticator lets a
// registered device in only with its password, refuses a disabled one,
// leaves unregistered clients to the rest of the chain, and that the
// registry records connections.
func TestRegistry_credentialsCLIAndImport(t *testing.T) {
	t.Parallel()
	cfg := `auth:
  chain: [devices]
  allow_anonymous: true
`
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", writeConfig(t, cfg))
	out, err := devicesCLI(t, h, "s3cret\n", "add", "lock-1", "--group", "fleet", "--attr", "model=L1", "--password-stdin")
	require.NoError(t, err, out)
	require.Contains(t, out, `"has_password": true`)
	out, err = devicesCLI(t, h, "", "add", "lock-1")
	require.Error(t, err)
	require.Contains(t, out, "device_exists")

	csv := filepath.Join(t.TempDir(), "fleet.csv")
	require.NoError(t, os.WriteFile(csv, []byte("id,enabled,groups,attr.model\nlock-2,true,fleet,L2\nlock-3,false,fleet,L2\nbad id,true,,\n"), 0o600))
	out, err = devicesCLI(t, h, "", "import", csv)
	require.NoError(t, err, out)
	var res struct {
		Created int
		Failed  []struct{ Line int }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Equal(t, 2, res.Created)
	require.Len(t, res.Failed, 1)
	require.Equal(t, 4, res.Failed[0].Line)

	port := port(h.mqtt)
	out, _ = mosquittoPub(t, port, "-i", "lock-1", "-u", "lock-1", "-P", "wrong", "-t", "x", "-m", "1")
	require.Contains(t, out, "Connection Refused: bad user name or password", "a registered device needs its password")
	out, _ = mosquittoPub(t, port, "-i", "lock-1", "-t", "x", "-m", "1")
	require.Contains(t, out, "Connection Refused: bad user name or password", "nor can it come without one")
	out, _ = mosquittoPub(t, port, "-i", "lock-3", "-t", "x", "-m", "1")
	require.Contains(t, out, "not authorised", "a disabled device is refused")
	_, err = mosquittoPub(t, port, "-i", "lock-2", "-t", "x", "-m", "1")
	require.NoError(t, err, "no credentials registered: the chain goes on (anonymous allowed here)")
	_, err = mosquittoPub(t, port, "-i", "stranger", "-t", "x", "-m", "1")
	require.NoError(t, err, "unregistered clients are left to the chain")

	sub := startSub(t, h, "-i", "lock-1", "-u", "lock-1", "-P", "s3cret", "-t", "$aws/things/lock-1/shadow/#")
	sub.waitLine(t, "CONNACK (0)")
	testutil.Eventually(t, 10*time.Second, func() bool {
		code, body := apiCall(t, h, http.MethodGet, "/api/v1/devices?connected=true", apiKey, "")
		return code == http.StatusOK && strings.Contains(body, `"id":"lock-1"`) && !strings.Contains(body, `"id":"lock-2"`)
	}, "lock-1 listed as connected")
	out, err = devicesCLI(t, h, "", "list", "--group", "fleet", "--limit", "2")
	require.NoError(t, err, out)
	var page struct {
		Data []struct{ ID string }
		Meta struct {
			NextCursor string `json:"next_cursor"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &page), out)
	require.Len(t, page.Data, 2)
	require.NotEmpty(t, page.Meta.NextCursor)
	out, err = devicesCLI(t, h, "", "list", "--group", "fleet", "--limit", "2", "--cursor", page.Meta.NextCursor)
	require.NoError(t, err, out)
	require.Contains(t, out, `"id": "lock-3"`, "the second page")
	require.NotContains(t, out, `"id": "lock-1"`)
	out, err = devicesCLI(t, h, "", "list", "--attr", "model=L2", "--enabled", "false")
	require.NoError(t, err, out)
	require.Contains(t, out, `"id": "lock-3"`)
	require.NotContains(t, out, `"id": "lock-2"`, "enabled")
	require.NotContains(t, out, `"id": "lock-1"`, "model L1")
	out, err = devicesCLI(t, h, "", "update", "lock-1", "--enabled", "false")
	require.NoError(t, err, out)
	require.Contains(t, out, `"enabled": false`)
	out, err = devicesCLI(t, h, "", "remove", "lock-2")
	require.NoError(t, err, out)
	code, _ := apiCall(t, h, http.MethodGet, "/api/v1/devices/lock-2", apiKey, "")
	require.Equal(t, http.StatusNotFound, code)
}
