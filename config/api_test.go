package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAPI_keyIsRedacted(t *testing.T) {
	c := Defaults()
	require.NoError(t, c.Set("api.key", "0123456789abcdef-secret"))
	require.NoError(t, c.Validate())
	out, err := c.YAML()
	require.NoError(t, err)
	require.NotContains(t, string(out), "0123456789abcdef-secret")
	require.Contains(t, string(out), `key: <redacted>`)
}

func TestAPI_validate(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"short key", "api.key", "short", "api.key: a bootstrap key must be at least 16 characters"},
		{"cert without key", "api.tls_cert_file", "testdata/tls/server.crt", "tls_cert_file and tls_key_file go together"},
		{"wildcard topic", "api.command_topic", "devices/+/command", "must be a topic name"},
		{"small body", "api.max_body_bytes", "10", "api.max_body_bytes: 10 is out of range"},
		{"max below default", "api.max_command_timeout", "1s", "api.max_command_timeout: 1s must be at least 10s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			require.NoError(t, c.Set(tc.key, tc.value))
			err := c.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
