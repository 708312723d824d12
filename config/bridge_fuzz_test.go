package config_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/config"
)

// FuzzDecodeBridge decodes arbitrary bytes as an API bridge definition
// and as a version 1 bridges.json entry. It must never panic, and a
// definition that decodes must encode (MarshalJSON) to JSON that decodes
// back to the same bridge, without warnings. Seeds:
// testdata/fuzz/FuzzDecodeBridge/ and the entries of the version 1 file.
func FuzzDecodeBridge(f *testing.F) {
	data, err := os.ReadFile("../internal/bridgemgr/testdata/bridges_v1.json")
	require.NoError(f, err)
	var doc struct{ Bridges []json.RawMessage }
	require.NoError(f, json.Unmarshal(data, &doc))
	for _, b := range doc.Bridges {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := config.DecodeLegacyBridge(data); err != nil {
			require.NotEmpty(t, err.Error())
		}
		b, _, err := config.DecodeBridge(data)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		out, err := json.Marshal(b)
		require.NoError(t, err)
		again, warns, err := config.DecodeBridge(out)
		require.NoError(t, err, "%s", out)
		require.Empty(t, warns)
		require.Equal(t, b, again)
		red, err := b.RedactedJSON()
		require.NoError(t, err)
		require.True(t, json.Valid(red), "%s", red)
	})
}
