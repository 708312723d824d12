package app

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/rule"
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
