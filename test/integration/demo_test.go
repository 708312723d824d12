package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildDemo builds the example programs under examples/<name> (with the
// race detector) into a directory beside the hub binary TestMain built, as
// `make demo-<name>` does, and returns the directory.
func buildDemo(t *testing.T, name string) string {
	t.Helper()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-race", "-o", bin+string(filepath.Separator), "../../examples/"+name+"/...")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build examples/%s: %s", name, out)
	require.NoError(t, os.Symlink(hubBinary, filepath.Join(bin, "iothub")))
	return bin
}

// runDemo runs a demo program to its end (at most limit) in its own
// process group, so that whatever it started goes with it if it hangs,
// and returns its exit error and output.
func runDemo(t *testing.T, limit time.Duration, program string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("%s output:\n%s", filepath.Base(program), out.String())
	return out.String(), err
}

// TestDemo_doorlock runs `make demo-doorlock`'s story: the hub, kfake,
// the three business services and the locks as separate processes. The
// demo exits non-zero when an expected event is missing; the test also
// checks that the audit's verdicts and the queued answer were printed.
func TestDemo_doorlock(t *testing.T) {
	t.Parallel()
	bin := buildDemo(t, "doorlock")
	out, err := runDemo(t, 5*time.Minute, filepath.Join(bin, "doorlock"), "--locks", "5")
	require.NoError(t, err)
	for _, want := range []string{"all 32 expected events seen", "REPLAYED_NONCE", "BAD_SIGNATURE", "STALE_TS",
		"queued", "alarms/10083618796833172  low_battery", "unlocked  10083618796833172  bob@example.com"} {
		require.Contains(t, out, want)
	}
}

// TestDemo_doorlockMissingEvent: the demo exits 1 and names what is
// missing when a service does not do its job; here the notification
// service is replaced by a program that reads nothing.
func TestDemo_doorlockMissingEvent(t *testing.T) {
	t.Parallel()
	bin := buildDemo(t, "doorlock")
	stub := filepath.Join(bin, "notification")
	require.NoError(t, os.Remove(stub))
	require.NoError(t, os.WriteFile(stub, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755)) //nolint:gosec // an executable stub
	out, err := runDemo(t, 5*time.Minute, filepath.Join(bin, "doorlock"), "--wait", "15s")
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the demo must fail when an expected event is missing")
	require.Equal(t, 1, exit.ExitCode())
	for _, want := range []string{"MISSING  notification: front door unlocked, to Alice", "MISSING  notification: garage unlocked, to Bob",
		"ok       audit: unlock 0badc0de bad_signature"} {
		require.Contains(t, out, want)
	}
	require.Regexp(t, `MISSING \d+ of 32 expected events`, out)
}

// TestDemo_remote runs `make demo-remote` scaled down: 300 devices over
// MQTT over WebSocket, commands through the API at 20/s, each acked; then
// the same on three nodes behind HAProxy with every command sent through a
// node that does not hold the device.
func TestDemo_remote(t *testing.T) {
	t.Parallel()
	bin := buildDemo(t, "remote")
	for _, nodes := range []string{"1", "3"} {
		t.Run("nodes="+nodes, func(t *testing.T) {
			out, err := runDemo(t, 5*time.Minute, filepath.Join(bin, "remote"), "--devices", "300", "--rate", "20", "--duration", "5s",
				"--nodes", nodes)
			require.NoError(t, err, "the demo exits 1 when a command was not acked")
			require.Contains(t, out, "ok       every command acknowledged by its device")
			require.Contains(t, out, "memory per connection")
			if nodes == "3" {
				require.Contains(t, out, "ok       every command sent through a node that does not hold the device")
			}
		})
	}
}

// TestDemo_vehicles runs `make demo-vehicles` scaled down: vehicles →
// my-vehicles → the fleet service, its commands back through the Kafka
// consumer bridge to the vehicles (counted by the simulator), and the
// async and sync producers' metrics.
func TestDemo_vehicles(t *testing.T) {
	t.Parallel()
	bin := buildDemo(t, "vehicles")
	out, err := runDemo(t, 5*time.Minute, filepath.Join(bin, "vehicles"), "--vehicles", "50", "--duration", "5s",
		"--speed-limit", "100", "--burst", "2s")
	require.NoError(t, err)
	for _, want := range []string{"all 11 expected events seen", "the fleet saw all 50 vehicles", "async (my-vehicles)", "sync (my-vehicles-sync)"} {
		require.Contains(t, out, want)
	}
}
