package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// ScenarioDir is the directory, relative to the module root, that holds the
// reference systems' sample payloads and Kafka records: a copy of the
// steering repository's shared/scenarios, kept in one place for every test.
const ScenarioDir = "testdata/scenarios"

// Scenario returns the sample file name ("doorlock/state.json") from
// ScenarioDir, without its final newline (the files end in one; devices
// publish the JSON alone).
func Scenario(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(ScenarioPath(t, name))
	require.NoError(t, err)
	return bytes.TrimSpace(b)
}

// ScenarioPath returns the path of the sample file name, found by walking up
// from the test's working directory to the module root.
func ScenarioPath(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ScenarioDir, filepath.FromSlash(name))
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test's directory")
		dir = parent
	}
}
