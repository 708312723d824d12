package app

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/storage/pebblestore"
)

// TestHelperHoldStore is not a test: TestOpenStoreError runs the test
// binary with IOTHUB_TEST_HOLD_STORE set to hold a store from another
// process (pebble's lock is per process) until its stdin closes.
func TestHelperHoldStore(t *testing.T) {
	dir := os.Getenv("IOTHUB_TEST_HOLD_STORE")
	if dir == "" {
		t.Skip("helper process of TestOpenStoreError")
	}
	st, err := pebblestore.Open(dir)
	require.NoError(t, err)
	_, err = os.Stdout.WriteString("held\n")
	require.NoError(t, err)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	require.NoError(t, st.Close())
}

// A store held by another hub is reported as in use, not as corrupt: the
// corrupt-store advice (move the directory aside) would lose its data.
func TestOpenStoreError(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperHoldStore$")
	cmd.Env = append(os.Environ(), "IOTHUB_TEST_HOLD_STORE="+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "held\n", line)

	_, held := pebblestore.Open(dir)
	require.Error(t, held)
	tests := []struct {
		name string
		err  error
		want string
		not  string
	}{
		{"locked by another process", held, "is in use by another process", "corrupt"},
		{"unreadable", errors.New("pebble: not a store"), "it is corrupt, truncated or not an iothub store", "in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := openStoreError(dir, tt.err).Error()
			require.Contains(t, msg, tt.want)
			require.NotContains(t, msg, tt.not)
			require.Contains(t, msg, dir)
		})
	}
}
