package app

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/config"
)

// TestCheck_actionsServeKnows: `config check` knows every rule action
// `serve` registers (the upstream action was refused by check alone).
func TestCheck_actionsServeKnows(t *testing.T) {
	tests := []struct{ name, yaml, wantErr string }{
		{"upstream action", `upstream:
  url: mqtt://127.0.0.1:1884
rules:
  list:
    - id: up
      sql: 'SELECT clientid FROM "t/+"'
      actions: [{type: upstream, topic: "up/${clientid}"}]
`, ""},
		{"bad template in the upstream action", `rules:
  list:
    - id: up
      sql: 'SELECT clientid FROM "t/+"'
      actions: [{type: upstream, topic: "up/${clientid"}]
`, "upstream action: topic"},
		{"unknown action", `rules:
  list:
    - id: x
      sql: 'SELECT * FROM "t/+"'
      actions: [{type: carrier_pigeon}]
`, `unknown type "carrier_pigeon"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tc.yaml), "check.yaml")
			require.NoError(t, err)
			cfg.DataDir = t.TempDir()
			err = Check(cfg)
			if tc.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tc.wantErr)
			}
		})
	}
}
