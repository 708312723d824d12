package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/api"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// ruleEnv is an API with a started rule runner on the env's broker, with
// one configuration rule, "cfg".
func ruleEnv(t *testing.T) (*env, *rule.Runner) {
	t.Helper()
	var runner *rule.Runner
	e := newEnv(t, func(o *api.Options) {
		o.Rules = func() api.RuleManager { return runner }
	})
	runner = rule.NewRunner(rule.Options{Publisher: e.b, Logger: testutil.Logger(t), DataDir: t.TempDir()})
	require.NoError(t, runner.AddConfigRule(rule.Rule{ID: "cfg", Enabled: true, SQL: `SELECT clientid FROM "cfg/#"`}))
	require.NoError(t, runner.Start())
	e.b.AddEventHandler(runner)
	t.Cleanup(func() { _ = runner.Close(t.Context()) })
	return e, runner
}

const lowBattery = `SELECT clientid, payload.battery AS battery FROM "devices/+/state" WHERE payload.battery < 20`

func TestRules_lifecycle(t *testing.T) {
	e, _ := ruleEnv(t)
	body := map[string]any{"id": "low", "sql": lowBattery, "description": "alarm",
		"actions": []any{map[string]any{"type": "republish", "topic": "alarms/${clientid}", "qos": 1}}}
	st, b := e.call(t, http.MethodPost, "/api/v1/rules", body)
	require.Equal(t, http.StatusCreated, st, "%s", b)
	got := obj(t, b)
	require.Equal(t, "low", got["id"])
	require.Equal(t, true, got["enabled"], "enabled unless it says otherwise")
	require.Equal(t, "api", got["source"])

	e.requireError(t, http.MethodPost, "/api/v1/rules", body, http.StatusConflict, "rule_exists")

	// The rule works: a subscriber to the alarms gets one.
	sub := connectDevice(t, e.mqtt, "watcher", false, false)
	sub.subscribe(t, "alarms/#", 1)
	lock := connectDevice(t, e.mqtt, "lock-1", false, false)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := lock.Publish(ctx, &paho.Publish{Topic: "devices/lock-1/state", QoS: 1, Payload: []byte(`{"battery":12.5}`)})
	require.NoError(t, err)
	p := sub.next(t)
	require.Equal(t, "alarms/lock-1", p.Topic)
	require.JSONEq(t, `{"clientid":"lock-1","battery":12.5}`, string(p.Payload))

	// The action's outcome is counted once its publish returned, which
	// may be just after the subscriber got the message.
	var m map[string]any
	testutil.Eventually(t, 10*time.Second, func() bool {
		st, b = e.call(t, http.MethodGet, "/api/v1/rules/low/metrics", nil)
		require.Equal(t, http.StatusOK, st)
		m = obj(t, b)
		return m["actions_success"] == float64(1)
	}, "the action counted")
	require.EqualValues(t, 1, m["matched"])
	require.EqualValues(t, 1, m["passed"])
	require.EqualValues(t, 1, m["actions_success"])
	for _, k := range []string{"failed", "no_result", "actions_failed", "rate", "rate_max"} {
		require.Contains(t, m, k)
	}

	st, b = e.call(t, http.MethodPost, "/api/v1/rules/low/disable", nil)
	require.Equal(t, http.StatusOK, st, "%s", b)
	require.Equal(t, false, obj(t, b)["enabled"])
	st, b = e.call(t, http.MethodPost, "/api/v1/rules/low/enable", nil)
	require.Equal(t, http.StatusOK, st, "%s", b)
	require.Equal(t, true, obj(t, b)["enabled"])

	body["sql"] = `SELECT clientid FROM "devices/+/state"`
	body["enabled"] = false
	st, b = e.call(t, http.MethodPut, "/api/v1/rules/low", body)
	require.Equal(t, http.StatusOK, st, "%s", b)
	require.Equal(t, false, obj(t, b)["enabled"])
	require.Equal(t, body["sql"], obj(t, b)["sql"])

	st, b = e.call(t, http.MethodGet, "/api/v1/rules", nil)
	require.Equal(t, http.StatusOK, st)
	var list struct{ Data []rule.RuleInfo }
	require.NoError(t, json.Unmarshal(b, &list))
	require.Len(t, list.Data, 2)
	require.Equal(t, "cfg", list.Data[0].ID, "configuration rules first")
	require.Equal(t, rule.SourceConfig, list.Data[0].Source)

	st, _ = e.call(t, http.MethodDelete, "/api/v1/rules/low", nil)
	require.Equal(t, http.StatusNoContent, st)
	e.requireError(t, http.MethodGet, "/api/v1/rules/low", nil, http.StatusNotFound, "rule_not_found")
}

func TestRules_errors(t *testing.T) {
	e, _ := ruleEnv(t)
	cfgRule := map[string]any{"sql": `SELECT clientid FROM "x"`}
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code, field, msg   string
	}{
		{"bad function", "POST", "/api/v1/rules", map[string]any{"id": "r1", "sql": `SELECT lowr(clientid) FROM "t"`},
			400, "invalid_sql", "sql", "unknown function 'lowr' at 1:8"},
		{"syntax", "POST", "/api/v1/rules", map[string]any{"id": "r1", "sql": `SELECT FROM`}, 400, "invalid_sql", "sql", ""},
		{"no sql", "POST", "/api/v1/rules", map[string]any{"id": "r1"}, 400, "invalid_field", "sql", ""},
		{"bad id", "POST", "/api/v1/rules", map[string]any{"id": "a b", "sql": `SELECT * FROM "t"`}, 400, "invalid_field", "id", ""},
		{"unknown field", "POST", "/api/v1/rules", map[string]any{"id": "r1", "sql": `SELECT * FROM "t"`, "enable": true},
			400, "invalid_field", "enable", ""},
		{"unknown action", "POST", "/api/v1/rules", map[string]any{"id": "r1", "sql": `SELECT * FROM "t"`,
			"actions": []any{map[string]any{"type": "nope"}}}, 400, "invalid_rule", "", ""},
		{"loop", "POST", "/api/v1/rules", map[string]any{"id": "r1", "sql": `SELECT * FROM "devices/#"`,
			"actions": []any{map[string]any{"type": "republish", "topic": "devices/${clientid}/alarm"}}}, 400, "invalid_rule", "", "feed itself"},
		{"config rule update", "PUT", "/api/v1/rules/cfg", cfgRule, 403, "rule_read_only", "", "configuration file"},
		{"config rule delete", "DELETE", "/api/v1/rules/cfg", nil, 403, "rule_read_only", "", ""},
		{"config rule disable", "POST", "/api/v1/rules/cfg/disable", nil, 403, "rule_read_only", "", ""},
		{"id mismatch", "PUT", "/api/v1/rules/cfg", map[string]any{"id": "other", "sql": `SELECT * FROM "t"`}, 400, "invalid_field", "id", ""},
		{"missing update", "PUT", "/api/v1/rules/nope", cfgRule, 404, "rule_not_found", "", ""},
		{"missing metrics", "GET", "/api/v1/rules/nope/metrics", nil, 404, "rule_not_found", "", ""},
		{"missing enable", "POST", "/api/v1/rules/nope/enable", nil, 404, "rule_not_found", "", ""},
		{"wrong method", "PATCH", "/api/v1/rules/cfg", nil, 405, "method_not_allowed", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.requireError(t, tc.method, tc.path, tc.body, tc.status, tc.code)
			if tc.field != "" {
				require.Equal(t, tc.field, got["field"], "%v", got)
			}
			require.Contains(t, got["message"], tc.msg)
		})
	}
}

func TestRules_test(t *testing.T) {
	e, runner := ruleEnv(t)
	tests := []struct {
		name   string
		body   any
		status int
		want   string // outputs JSON, or the error code
	}{
		{"match", map[string]any{"sql": lowBattery, "sample": map[string]any{"clientid": "lock-1",
			"topic": "devices/lock-1/state", "payload": map[string]any{"battery": 12.5}}}, 200,
			`[{"clientid":"lock-1","battery":12.5}]`},
		{"payload as text", map[string]any{"sql": lowBattery, "sample": map[string]any{"clientid": "lock-1",
			"topic": "devices/lock-1/state", "payload": `{"battery":3}`}}, 200, `[{"clientid":"lock-1","battery":3}]`},
		{"where false", map[string]any{"sql": lowBattery, "sample": map[string]any{"topic": "devices/x/state",
			"payload": map[string]any{"battery": 80}}}, 200, `[]`},
		{"foreach", map[string]any{"sql": `FOREACH payload.s AS s DO s.t AS t FROM "a"`,
			"sample": map[string]any{"topic": "a", "payload": map[string]any{"s": []any{map[string]any{"t": 1}, map[string]any{"t": 2}}}}},
			200, `[{"t":1},{"t":2}]`},
		{"acked event", map[string]any{"sql": `SELECT clientid, from_clientid FROM "$events/message_acked"`,
			"sample": map[string]any{"clientid": "lock-1", "from_clientid": "backend", "topic": "devices/lock-1/command"}},
			200, `[{"clientid":"lock-1","from_clientid":"backend"}]`},
		{"bad sql", map[string]any{"sql": `SELECT lowr(clientid) FROM "t"`}, 400, "invalid_sql"},
		{"no match", map[string]any{"sql": lowBattery, "sample": map[string]any{"event": "client_connected"}}, 400, "sample_no_match"},
		{"eval fails", map[string]any{"sql": `SELECT int(payload) AS n FROM "t"`, "sample": map[string]any{"topic": "t", "payload": "x"}},
			400, "evaluation_failed"},
		{"unknown sample field", map[string]any{"sql": lowBattery, "sample": map[string]any{"client_id": "x"}}, 400, "invalid_field"},
		{"sample field type", map[string]any{"sql": lowBattery, "sample": map[string]any{"qos": "1"}}, 400, "invalid_field"},
		{"EMQX context", map[string]any{"sql": `SELECT payload.msg as msg, clientid, username, payload, topic, qos FROM "t/#"`,
			"context": map[string]any{"clientid": "c_emqx", "event_type": "message_publish", "payload": `{"msg": "hello"}`,
				"qos": 1, "topic": "t/a", "username": "u_emqx"}}, 200,
			`[{"msg":"hello","clientid":"c_emqx","username":"u_emqx","payload":"{\"msg\": \"hello\"}","topic":"t/a","qos":1}]`},
		{"EMQX context, authz event", map[string]any{"sql": `SELECT clientid, topic, action, result FROM "$events/client_check_authz_complete"`,
			"context": map[string]any{"action": "publish", "clientid": "c_emqx", "event_type": "client_check_authz_complete",
				"result": "allow", "topic": "t/1", "username": "u_emqx"}}, 200,
			`[{"clientid":"c_emqx","topic":"t/1","action":"publish","result":"allow"}]`},
		{"context column type", map[string]any{"sql": lowBattery, "context": map[string]any{"qos": "high"}}, 400, "invalid_field"},
		{"context and sample", map[string]any{"sql": lowBattery, "context": map[string]any{}, "sample": map[string]any{"topic": "t"}}, 400, "invalid_field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, b := e.call(t, http.MethodPost, "/api/v1/rules/test", tc.body)
			require.Equal(t, tc.status, st, "%s", b)
			if st != http.StatusOK {
				require.Equal(t, tc.want, obj(t, b)["code"], "%s", b)
				return
			}
			var got struct{ Outputs json.RawMessage }
			require.NoError(t, json.Unmarshal(b, &got))
			require.JSONEq(t, tc.want, string(got.Outputs))
		})
	}
	require.Len(t, runner.List(), 1, "testing creates no rule")
}

func TestRules_off(t *testing.T) {
	e := newEnv(t, nil)
	e.requireError(t, http.MethodGet, "/api/v1/rules", nil, http.StatusServiceUnavailable, "not_ready")
}
