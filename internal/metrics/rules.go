package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iothub-dev/iothub/internal/rule"
)

// RuleSource is what the rule collector reads at scrape time;
// *rule.Runner implements it.
type RuleSource interface {
	// List returns every rule with a snapshot of its metrics.
	List() []rule.RuleInfo
	// Stats returns the runner's event counters.
	Stats() rule.Stats
}

// AddRules registers the collector of src's per-rule metrics (label
// rule, the rule id) and of its queues. Call it once.
func (m *Metrics) AddRules(src RuleSource) error {
	return m.reg.Register(&ruleCollector{src: src})
}

// The rule engine's metrics; docs/observability.md describes each. A
// rule's counters restart from zero when it is updated (PUT), which
// Prometheus' rate() treats as a counter reset.
var (
	descRuleEnabled  = desc("iothub_rule_enabled", "Whether the rule is evaluated (1) or disabled (0).", "rule", "source")
	descRuleMatched  = desc("iothub_rule_matched_total", "Events that matched the rule's FROM.", "rule")
	descRulePassed   = desc("iothub_rule_passed_total", "Matched events that gave at least one output.", "rule")
	descRuleFailed   = desc("iothub_rule_failed_total", "Matched events whose evaluation failed (no output).", "rule")
	descRuleNoResult = desc("iothub_rule_no_result_total", "Matched events for which WHERE was false (or FOREACH gave nothing).", "rule")
	descRuleActions  = desc("iothub_rule_actions_total", "Action calls, by result (success, failure).", "rule", "result")
	descRuleWindow   = desc("iothub_rule_window_outputs_total", "Outputs of the rule's windows (GROUP BY).", "rule")
	descRuleDropped  = desc("iothub_rule_dropped_total", "What the rule's state had no room for (rules.max_state): events left out of windows, buffered events and remembered values forgotten.", "rule")
	descRulesEvents  = desc("iothub_rules_events_total", "Events evaluated, by path: inline (on the goroutine that emitted them) or queued (from the broker's event queue).", "path")
	allRuleDescs     = []*prometheus.Desc{descRuleEnabled, descRuleMatched, descRulePassed, descRuleFailed, descRuleNoResult, descRuleActions,
		descRuleWindow, descRuleDropped, descRulesEvents}
)

// ruleCollector turns one List and one Stats snapshot per scrape into
// metrics.
type ruleCollector struct {
	src RuleSource
}

// Describe implements prometheus.Collector.
func (c *ruleCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, allRuleDescs...)
}

// Collect implements prometheus.Collector.
func (c *ruleCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.src.List() {
		on := oneIf(r.Enabled)
		gauge(ch, descRuleEnabled, on, r.ID, r.Source)
		m := r.Metrics
		counter(ch, descRuleMatched, m.Matched, r.ID)
		counter(ch, descRulePassed, m.Passed, r.ID)
		counter(ch, descRuleFailed, m.Failed, r.ID)
		counter(ch, descRuleNoResult, m.NoResult, r.ID)
		counter(ch, descRuleActions, m.ActionsSuccess, r.ID, "success")
		counter(ch, descRuleActions, m.ActionsFailed, r.ID, "failure")
		counter(ch, descRuleWindow, m.WindowOutputs, r.ID)
		counter(ch, descRuleDropped, m.Dropped, r.ID)
	}
	st := c.src.Stats()
	counter(ch, descRulesEvents, st.Inline, "inline")
	counter(ch, descRulesEvents, st.Queued, "queued")
}
