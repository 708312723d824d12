package app

import (
	"errors"
	"fmt"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/bridgemgr"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/internal/upstream"
)

// Check validates cfg as `iothub serve` would build it, without opening a
// listener, a connection or a store: the security settings (ACL file,
// authenticators, bans), every bridge (templates included) and every rule
// (statement, functions, actions, the bridges they name). It returns
// every problem found, joined; `iothub config check` prints them.
func Check(cfg config.Config) error {
	var errs []error
	bans, err := newBanList(cfg)
	if err != nil {
		errs = append(errs, err)
	} else if sec, err := newSecurity(cfg, bans, &deviceAuthn{}); err != nil {
		errs = append(errs, err)
	} else {
		sec.close()
	}
	for i := range cfg.Bridges {
		if err := bridgemgr.Check(&cfg.Bridges[i]); err != nil {
			errs = append(errs, fmt.Errorf("config bridges.%d: %w", i, err))
		}
	}
	mgr := bridgemgr.New(bridgemgr.Options{DataDir: cfg.DataDir})
	reg := rule.NewRegistry()
	if err := mgr.Register(reg); err != nil {
		return errors.Join(append(errs, err)...)
	}
	var up upstream.ActionRegistrar // as serve registers it (setupUpstream)
	if err := up.Register(reg); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := mgr.Declare(cfg.Bridges); err != nil {
		errs = append(errs, err)
	}
	r := rule.NewRunner(rule.Options{Registry: reg})
	for i, def := range cfg.Rules.List {
		if err := r.AddConfigRule(ruleFromConfig(def)); err != nil {
			errs = append(errs, fmt.Errorf("config rules.list.%d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
