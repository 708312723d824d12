package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRules_defaultsAndValidation(t *testing.T) {
	c, err := Parse([]byte(`
rules:
  list:
    - id: low_battery
      sql: SELECT clientid FROM "devices/+/state"
      actions:
        - type: republish
          topic: alarms/${clientid}
          qos: 1
        - type: log
`), "t.yaml")
	require.NoError(t, err)
	require.Len(t, c.Rules.List, 1)
	require.True(t, c.Rules.List[0].Enabled, "enabled defaults to true")
	require.Equal(t, RuleAction{Type: "republish", Topic: "alarms/${clientid}", QoS: 1}, c.Rules.List[0].Actions[0])

	c, err = Parse([]byte("rules:\n  jq_timeout: 2s\n  schemas:\n    - {name: person, source: 'message Person {}'}\n"), "t.yaml")
	require.NoError(t, err)
	require.Equal(t, Schema{Name: "person", Type: "protobuf", Source: "message Person {}"}, c.Rules.Schemas[0], "type defaults to protobuf")
	require.Equal(t, "2s", c.Rules.JQTimeout.String())

	tests := []struct{ name, yaml, want string }{
		{"bad id", "rules:\n  list:\n    - id: 'a b'\n      sql: x\n", "rules.list.0.id"},
		{"duplicate id", "rules:\n  list:\n    - {id: a, sql: x}\n    - {id: a, sql: y}\n", `duplicate rule id "a"`},
		{"no sql", "rules:\n  list:\n    - id: a\n", "rules.list.0.sql: required"},
		{"no topic", "rules:\n  list:\n    - id: a\n      sql: x\n      actions: [{type: republish}]\n", "rules.list.0.actions.0.topic"},
		{"bad qos", "rules:\n  list:\n    - id: a\n      sql: x\n      actions: [{type: log, qos: 3}]\n", "rules.list.0.actions.0.qos"},
		{"workers", "rules:\n  workers: 0\n", "rules.workers"},
		{"unknown key", "rules:\n  list:\n    - id: a\n      sql: x\n      actoins: []\n", "unknown key"},
		{"jq timeout", "rules:\n  jq_timeout: 0s\n", "rules.jq_timeout"},
		{"schema name", "rules:\n  schemas:\n    - {name: 'a b', source: 'message A {}'}\n", "rules.schemas.0.name"},
		{"schema duplicate", "rules:\n  schemas:\n    - {name: a, source: 'message A {}'}\n    - {name: a, source: 'message B {}'}\n", `rules.schemas.1.name: duplicate schema name "a"`},
		{"schema type", "rules:\n  schemas:\n    - {name: a, type: avro, source: x}\n", "rules.schemas.0.type"},
		{"schema no source", "rules:\n  schemas:\n    - {name: a}\n", "rules.schemas.0.source: required (or file)"},
		{"schema both", "rules:\n  schemas:\n    - {name: a, source: x, file: y.proto}\n", "rules.schemas.0.file: give source or file"},
		{"schema file", "rules:\n  schemas:\n    - {name: a, file: /nonexistent/x.proto}\n", "rules.schemas.0.file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "t.yaml")
			require.ErrorContains(t, err, tc.want)
		})
	}
}
