package integration

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// doorLockACL is the ACL of docs/security.md.
const doorLockACL = `# Each lock publishes its own state and reads its own commands.
allow publish devices/%c/state
allow subscribe devices/%c/command
# The backend sends every command and reads every state.
allow publish username=backend devices/+/command
allow subscribe username=backend devices/+/state
deny all #
`

// addUser runs `iothub users add` with the password on stdin.
func addUser(t *testing.T, dataDir, name, password string) {
	t.Helper()
	cmd := exec.Command(hubBinary, "users", "add", "--data-dir", dataDir, name)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// mosquitto runs mosquitto_pub or mosquitto_sub against h and returns its
// exit error and output.
func mosquitto(t *testing.T, h *hub, tool_ string, args ...string) (string, error) {
	t.Helper()
	host, port, _ := net.SplitHostPort(h.mqtt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool(t, tool_), append([]string{"-h", host, "-p", port}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestAuth_doorLockWithMosquittoClients(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	addUser(t, dataDir, "lock-a", "pw-a")
	addUser(t, dataDir, "backend", "pw-b")
	aclFile := filepath.Join(dir, "acl.txt")
	require.NoError(t, os.WriteFile(aclFile, []byte(doorLockACL), 0o600))
	cfg := filepath.Join(dir, "iothub.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
auth:
  chain: [users]
  acl:
    default: deny
    file: `+aclFile+`
  ban:
    static:
      - {kind: client_id, value: stolen-lock, reason: reported stolen}
`), 0o600))
	h := startHub(t, nil, "--config", cfg, "--data-dir", dataDir)

	backend := startSub(t, h, "-V", "mqttv5", "-i", "backend-1", "-u", "backend", "-P", "pw-b", "-q", "1", "-t", "devices/+/state")
	backend.waitLine(t, "SUBACK")

	// Lock A publishes its own state; the forged state of lock B is refused
	// (PUBACK 0x87: mosquitto_pub reports it) and never reaches the backend.
	out, err := mosquitto(t, h, "mosquitto_pub", "-V", "mqttv5", "-i", "A", "-u", "lock-a", "-P", "pw-a", "-q", "1", "-t", "devices/B/state", "-m", "forged")
	t.Logf("forged publish: %v %s", err, out)
	_, err = mosquitto(t, h, "mosquitto_pub", "-V", "mqttv5", "-i", "A", "-u", "lock-a", "-P", "pw-a", "-q", "1", "-t", "devices/A/state", "-m", "own")
	require.NoError(t, err)
	require.Equal(t, "MSG devices/A/state own", backend.waitLine(t, "MSG"))

	// Lock A may not subscribe to lock B's commands.
	out, _ = mosquitto(t, h, "mosquitto_sub", "-V", "mqttv5", "-i", "A", "-u", "lock-a", "-P", "pw-a", "-t", "devices/B/command", "-W", "2", "-d")
	require.Contains(t, out, "135", "SUBACK reason 0x87 (135)")

	// Wrong password, no credentials, a banned client id.
	out, err = mosquitto(t, h, "mosquitto_pub", "-V", "mqttv5", "-i", "A", "-u", "lock-a", "-P", "wrong", "-t", "devices/A/state", "-m", "x")
	require.Error(t, err)
	require.Contains(t, strings.ToLower(out), "bad user name or password")
	out, err = mosquitto(t, h, "mosquitto_pub", "-i", "A", "-t", "devices/A/state", "-m", "x")
	require.Error(t, err)
	require.Contains(t, strings.ToLower(out), "not authori")
	out, err = mosquitto(t, h, "mosquitto_pub", "-V", "mqttv5", "-i", "stolen-lock", "-u", "lock-a", "-P", "pw-a", "-t", "devices/A/state", "-m", "x")
	require.Error(t, err)
	require.Contains(t, strings.ToLower(out), "banned")

	// A user added while the hub runs can log in at once.
	addUser(t, dataDir, "lock-c", "pw-c")
	require.Eventually(t, func() bool {
		out, err := mosquitto(t, h, "mosquitto_pub", "-i", "C", "-u", "lock-c", "-P", "pw-c", "-t", "devices/C/state", "-m", "hi")
		t.Log(out, err)
		return err == nil
	}, 10*time.Second, 200*time.Millisecond)
}
