package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// TestAWSIoTSDK runs the AWS IoT device SDK's thingShadow and jobs
// clients (npm aws-iot-device-sdk, real device-side code) against the hub
// over mutual TLS with a test CA: the thing is registered with its
// certificate's fingerprint (auth.chain: [devices]), the HTTP API is
// HTTPS, and test/integration/awsiot/awsiot.cjs checks the shadow flows
// (update, get, delta, version conflict, named shadow, delete) and a
// firmware job run through IN_PROGRESS to SUCCEEDED with the download's
// SHA-256 matched.
func TestAWSIoTSDK(t *testing.T) {
	t.Parallel()
	node := tool(t, "node")
	script, err := filepath.Abs("awsiot/awsiot.cjs")
	require.NoError(t, err)
	_, err = os.Stat("awsiot/node_modules/aws-iot-device-sdk/package.json")
	require.NoError(t, err, "aws-iot-device-sdk is missing: run scripts/test-deps.sh (npm ci in test/integration/awsiot)")

	ca := testutil.NewCA(t, "iothub test CA")
	server := ca.Server(t, "iothub test server")
	device := ca.Client(t, "lock-1")
	tlsAddr := freePort(t)
	cfg := writeConfig(t, `
listeners:
  tls:
`+mtlsListener(tlsAddr, server, ca.File)+`api:
  tls_cert_file: `+server.CertFile+`
  tls_key_file: `+server.KeyFile+`
auth:
  chain: [devices]
`)
	// A fixed API port: the job's download URL is built from the
	// configured API address, which port 0 would not give.
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", cfg, "--api-addr", freePort(t))
	waitListening(t, tlsAddr, h.exited)

	firmware := make([]byte, 256<<10)
	_, err = rand.Read(firmware)
	require.NoError(t, err)
	sum := sha256.Sum256(firmware)
	fwFile := filepath.Join(t.TempDir(), "lock-fw-1.2.bin")
	require.NoError(t, os.WriteFile(fwFile, firmware, 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, port(tlsAddr), "https://localhost:"+port(h.api), apiKey,
		ca.File, device.CertFile, device.KeyFile, hex.EncodeToString(sum[:]))
	cmd.Dir = "awsiot"
	cmd.Env = append(os.Environ(), "FIRMWARE_FILE="+fwFile)
	out, err := cmd.CombinedOutput()
	require.NoErrorf(t, err, "node awsiot.cjs:\n%s", out)
	for _, want := range []string{"update reported accepted", "get returns the reported state", "409 Version conflict",
		"delta event carries", "named shadow updated", "delete accepted", "jobs client received the job",
		"SHA-256 matches", "SUCCEEDED; job COMPLETED", "PASS"} {
		require.Contains(t, string(out), want)
	}
	require.Equal(t, 0, strings.Count(string(out), "FAIL"))
}
