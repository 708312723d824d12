package metrics

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/rule"
)

type fakeRules struct {
	list  []rule.RuleInfo
	stats rule.Stats
}

func (f fakeRules) List() []rule.RuleInfo { return f.list }
func (f fakeRules) Stats() rule.Stats     { return f.stats }

func sampleRules() fakeRules {
	return fakeRules{
		list: []rule.RuleInfo{
			{Rule: rule.Rule{ID: "low_battery", Enabled: true}, Source: rule.SourceConfig,
				Metrics: rule.Metrics{Matched: 10, Passed: 3, Failed: 1, NoResult: 6, ActionsSuccess: 5, ActionsFailed: 1, Rate: 2.5}},
			{Rule: rule.Rule{ID: "audit"}, Source: rule.SourceAPI},
		},
		stats: rule.Stats{Inline: 4, Queued: 7},
	}
}

func TestRuleCollector_values(t *testing.T) {
	m := New()
	require.NoError(t, m.AddRules(sampleRules()))
	checkMetrics(t, m, []metricCase{
		{"matched", "iothub_rule_matched_total", `
# HELP iothub_rule_matched_total Events that matched the rule's FROM.
# TYPE iothub_rule_matched_total counter
iothub_rule_matched_total{rule="audit"} 0
iothub_rule_matched_total{rule="low_battery"} 10
`},
		{"outcomes", "iothub_rule_passed_total", `
# HELP iothub_rule_passed_total Matched events that gave at least one output.
# TYPE iothub_rule_passed_total counter
iothub_rule_passed_total{rule="audit"} 0
iothub_rule_passed_total{rule="low_battery"} 3
`},
		{"failed", "iothub_rule_failed_total", `
# HELP iothub_rule_failed_total Matched events whose evaluation failed (no output).
# TYPE iothub_rule_failed_total counter
iothub_rule_failed_total{rule="audit"} 0
iothub_rule_failed_total{rule="low_battery"} 1
`},
		{"no result", "iothub_rule_no_result_total", `
# HELP iothub_rule_no_result_total Matched events for which WHERE was false (or FOREACH gave nothing).
# TYPE iothub_rule_no_result_total counter
iothub_rule_no_result_total{rule="audit"} 0
iothub_rule_no_result_total{rule="low_battery"} 6
`},
		{"actions", "iothub_rule_actions_total", `
# HELP iothub_rule_actions_total Action calls, by result (success, failure).
# TYPE iothub_rule_actions_total counter
iothub_rule_actions_total{result="failure",rule="audit"} 0
iothub_rule_actions_total{result="failure",rule="low_battery"} 1
iothub_rule_actions_total{result="success",rule="audit"} 0
iothub_rule_actions_total{result="success",rule="low_battery"} 5
`},
		{"enabled", "iothub_rule_enabled", `
# HELP iothub_rule_enabled Whether the rule is evaluated (1) or disabled (0).
# TYPE iothub_rule_enabled gauge
iothub_rule_enabled{rule="audit",source="api"} 0
iothub_rule_enabled{rule="low_battery",source="config"} 1
`},
		{"events", "iothub_rules_events_total", `
# HELP iothub_rules_events_total Events evaluated, by path: inline (on the goroutine that emitted them) or queued (from the broker's event queue).
# TYPE iothub_rules_events_total counter
iothub_rules_events_total{path="inline"} 4
iothub_rules_events_total{path="queued"} 7
`},
	})
}

func TestCollector_authValues(t *testing.T) {
	m := New()
	require.NoError(t, m.AddBroker(fakeSource{sampleStats()}))
	checkMetrics(t, m, []metricCase{
		{"failures by reason", "iothub_auth_failures_total", `
# HELP iothub_auth_failures_total Failed authentications, by CONNACK reason (bad_user_name_or_password, not_authorized, banned, server_unavailable, …).
# TYPE iothub_auth_failures_total counter
iothub_auth_failures_total{reason="bad_user_name_or_password"} 3
iothub_auth_failures_total{reason="banned"} 1
`},
		{"acl denials", "iothub_authz_denied_total", `
# HELP iothub_authz_denied_total What the ACL refused, by action: PUBLISH packets, wills included (publish); subscription filters, also those dropped when a session is resumed (subscribe); messages not delivered through a wildcard subscription whose subscriber may not read their topic (read).
# TYPE iothub_authz_denied_total counter
iothub_authz_denied_total{action="publish"} 5
iothub_authz_denied_total{action="read"} 7
iothub_authz_denied_total{action="subscribe"} 2
`},
		{"session takeovers refused", "iothub_session_takeovers_refused_total", `
# HELP iothub_session_takeovers_refused_total CONNECTs refused because the session of their client id belongs to another identity (auth.session_ownership).
# TYPE iothub_session_takeovers_refused_total counter
iothub_session_takeovers_refused_total 4
`},
		{"rate limited", "iothub_rate_limited_total", `
# HELP iothub_rate_limited_total Rate-limited PUBLISH packets (kind publish) and delayed connections (kind connection).
# TYPE iothub_rate_limited_total counter
iothub_rate_limited_total{kind="connection"} 1
iothub_rate_limited_total{kind="publish"} 8
`},
	})
}
