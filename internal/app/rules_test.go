package app

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/internal/schema"
	"github.com/iothub-dev/iothub/internal/testutil"
)

func TestRules_fromConfig(t *testing.T) {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Rules.List = []config.Rule{{ID: "low", Enabled: true,
		SQL:     `SELECT clientid FROM "devices/+/state" WHERE payload.battery < 20`,
		Actions: []config.RuleAction{{Type: "republish", Topic: "alarms/${clientid}", QoS: 1}, {Type: "log"}}}}
	a, err := New(cfg, testutil.Logger(t))
	require.NoError(t, err)
	list := a.Rules().List()
	require.Len(t, list, 1)
	require.Equal(t, rule.SourceConfig, list[0].Source)
	require.Equal(t, []rule.ActionSpec{{"type": "republish", "topic": "alarms/${clientid}", "qos": 1}, {"type": "log"}},
		list[0].Actions)

	cfg.Rules.List[0].SQL = `SELECT lowr(clientid) FROM "t"`
	_, err = New(cfg, testutil.Logger(t))
	require.ErrorContains(t, err, "config rules.list.0: rule low: unknown function 'lowr' at 1:8")
}

func TestSchemas_fromConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cmd.proto")
	require.NoError(t, os.WriteFile(file, []byte("syntax = \"proto3\";\nmessage Command { string action = 1; }\n"), 0o600))
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Rules.Schemas = []config.Schema{
		{Name: "person", Type: "protobuf", Source: "message Person { required string name = 1; }"},
		{Name: "cmd", Type: "protobuf", File: file},
	}
	a, err := New(cfg, testutil.Logger(t))
	require.NoError(t, err)
	list := a.Schemas().List()
	require.Len(t, list, 2)
	require.Equal(t, []string{"Command"}, list[0].Messages)
	require.Equal(t, schema.OriginConfig, list[0].Origin)
	out, err := a.Rules().Test(`SELECT schema_decode('cmd', schema_encode('cmd', payload, 'Command')) AS c FROM "t"`,
		rule.Sample{Topic: "t", Payload: `{"action":"unlock"}`})
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Equal(t, map[string]any{"c": map[string]any{"action": "unlock"}}, out[0].Map())

	cfg.Rules.Schemas[1].File = ""
	cfg.Rules.Schemas[1].Source = "syntax = \"proto3\";\nmessage Command { string action = ; }"
	_, err = New(cfg, testutil.Logger(t))
	require.ErrorContains(t, err, `config rules.schemas.1: schema "cmd": line 2, column 35: syntax error`)
}
