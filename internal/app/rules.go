package app

import (
	"context"
	"fmt"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/rule"
)

// setupRules builds the rule runner and adds the rules of the config file;
// a bad statement or action stops the hub from starting, naming the rule
// and the line:col in its statement.
func (a *App) setupRules() error {
	if err := a.setupSchemas(); err != nil {
		return err
	}
	r := rule.NewRunner(rule.Options{
		Publisher: a.broker,
		Logger:    a.log,
		DataDir:   a.cfg.DataDir,
		Registry:  a.bridges.registry, // built-ins + "bridge" (bridges.go)
		Schemas:   a.schemas,
		JQTimeout: a.cfg.Rules.JQTimeout.D(),
		MaxState:  a.cfg.Rules.MaxState,
	})
	for i, def := range a.cfg.Rules.List {
		if err := r.AddConfigRule(ruleFromConfig(def)); err != nil {
			return fmt.Errorf("config rules.list.%d: %w", i, err)
		}
	}
	a.rules = r
	if a.metrics != nil {
		if err := a.metrics.AddRules(r); err != nil { // per-rule metrics at scrape time
			return fmt.Errorf("rule metrics: %w", err)
		}
	}
	return nil
}

// startRules loads the API rules from data_dir/rules.json, starts the
// workers and subscribes the runner to the broker's events.
func (a *App) startRules() error {
	if err := a.rules.Start(); err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	a.broker.AddEventHandler(a.rules)
	return nil
}

// stopRules lets the runner finish its queued events; call it after the
// broker's Shutdown, which unregisters the runner.
func (a *App) stopRules(ctx context.Context) error {
	return a.rules.Close(ctx)
}

// Rules returns the rule runner: the management API for the HTTP layer
// (Create, Update, Delete, Get, List, Enable, Disable, Test, Metrics).
func (a *App) Rules() *rule.Runner { return a.rules }

// ruleFromConfig turns a rule of the file into a definition; an action's
// keys that are zero are left out, so each action type sees only the keys
// it was given.
func ruleFromConfig(c config.Rule) rule.Rule {
	r := rule.Rule{ID: c.ID, SQL: c.SQL, Description: c.Description, Enabled: c.Enabled}
	for _, a := range c.Actions {
		spec := rule.ActionSpec{"type": a.Type}
		if a.Topic != "" {
			spec["topic"] = a.Topic
		}
		if a.QoS != 0 {
			spec["qos"] = a.QoS
		}
		if a.Retain {
			spec["retain"] = true
		}
		if a.Payload != "" {
			spec["payload"] = a.Payload
		}
		if a.Bridge != "" {
			spec["bridge"] = a.Bridge // the "bridge" action (bridges.go)
		}
		if a.Stream != "" {
			spec["stream"] = a.Stream // the "upstream" action (upstream.go)
		}
		r.Actions = append(r.Actions, spec)
	}
	return r
}
