package bench

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// TestScenarioFiles_matchTheSamples: the payloads compiled into `bench
// simulate` are the reference systems' samples, byte for byte, so that the
// simulator cannot drift from what the tests and docs use.
func TestScenarioFiles_matchTheSamples(t *testing.T) {
	for embedded, sample := range map[string]string{
		"scenarios/doorlock_state.json":     "doorlock/state.json",
		"scenarios/doorlock_command.json":   "doorlock/command.json",
		"scenarios/vehicles_telemetry.json": "vehicles/telemetry.json",
	} {
		got, err := scenarioFiles.ReadFile(embedded)
		require.NoError(t, err)
		require.Equal(t, string(testutil.Scenario(t, sample)), string(bytes.TrimSpace(got)), embedded)
	}
}
