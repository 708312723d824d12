package rule

import "fmt"

// This file is the management API, one method per endpoint of the HTTP
// API (see docs/rules.md):
//
//	GET    /api/v1/rules               List
//	POST   /api/v1/rules               Create
//	GET    /api/v1/rules/{id}          Get
//	PUT    /api/v1/rules/{id}          Update
//	DELETE /api/v1/rules/{id}          Delete
//	POST   /api/v1/rules/{id}/enable   Enable
//	POST   /api/v1/rules/{id}/disable  Disable
//	GET    /api/v1/rules/{id}/metrics  Metrics
//	POST   /api/v1/rules/test          Test
//
// Errors wrap ErrNotFound (404), ErrExists (409), ErrReadOnly (403),
// ErrSyntax/ErrInvalid (a *SQLError with line:col) and ErrBadRule (400).

// Create adds an API rule and stores it in rules.json. A rule is refused
// unless its statement compiles and every action builds.
func (r *Runner) Create(def Rule) (RuleInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.add(def, SourceAPI); err != nil {
		return RuleInfo{}, err
	}
	if err := r.persist(); err != nil {
		r.remove(def.ID)
		return RuleInfo{}, err
	}
	return r.info(def.ID)
}

// Update replaces an API rule (definition and actions) and stores it; its
// metrics restart from zero.
func (r *Runner) Update(def Rule) (RuleInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.writable(def.ID); err != nil {
		return RuleInfo{}, err
	}
	p, err := check(def)
	if err != nil {
		return RuleInfo{}, err
	}
	old, _ := r.engine.Get(def.ID)
	acts, err := r.buildActions(def, p)
	if err != nil {
		return RuleInfo{}, err
	}
	oldActs := (*r.actions.Load())[def.ID]
	r.setActions(def.ID, acts)
	if err := r.engine.Replace(def); err != nil {
		r.setActions(def.ID, oldActs)
		closeActions(acts)
		return RuleInfo{}, err
	}
	if err := r.persist(); err != nil {
		_ = r.engine.Replace(old)
		r.setActions(def.ID, oldActs)
		closeActions(acts)
		return RuleInfo{}, err
	}
	closeActions(oldActs)
	r.meters[def.ID] = &rateMeter{}
	return r.info(def.ID)
}

// Delete removes an API rule and stores the change.
func (r *Runner) Delete(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.writable(id); err != nil {
		return err
	}
	old, _ := r.engine.Get(id)
	acts := (*r.actions.Load())[id]
	r.remove(id)
	closeActions(acts)
	if err := r.persist(); err != nil {
		_ = r.add(old, SourceAPI) // with new actions
		return err
	}
	return nil
}

// remove drops a rule from the engine and the runner; r.mu is held.
func (r *Runner) remove(id string) {
	_ = r.engine.Remove(id)
	r.setActions(id, nil)
	delete(r.source, id)
	delete(r.meters, id)
}

// Enable starts evaluating an API rule again.
func (r *Runner) Enable(id string) (RuleInfo, error) { return r.setEnabled(id, true) }

// Disable stops evaluating an API rule; it keeps its definition and
// metrics.
func (r *Runner) Disable(id string) (RuleInfo, error) { return r.setEnabled(id, false) }

func (r *Runner) setEnabled(id string, on bool) (RuleInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.writable(id); err != nil {
		return RuleInfo{}, err
	}
	if err := r.engine.SetEnabled(id, on); err != nil {
		return RuleInfo{}, err
	}
	if err := r.persist(); err != nil {
		_ = r.engine.SetEnabled(id, !on)
		return RuleInfo{}, err
	}
	return r.info(id)
}

// writable checks that id exists and is an API rule; r.mu is held.
func (r *Runner) writable(id string) error {
	switch r.source[id] {
	case "":
		return fmt.Errorf("rule %s: %w", id, ErrNotFound)
	case SourceConfig:
		return fmt.Errorf("rule %s: %w", id, ErrReadOnly)
	}
	return nil
}

// Get returns one rule.
func (r *Runner) Get(id string) (RuleInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.info(id)
}

// List returns every rule, configuration rules first, in creation order.
func (r *Runner) List() []RuleInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	defs := r.engine.List()
	out := make([]RuleInfo, 0, len(defs))
	for _, d := range defs {
		if ri, err := r.info(d.ID); err == nil {
			out = append(out, ri)
		}
	}
	return out
}

// Metrics returns one rule's metrics with its rate.
func (r *Runner) Metrics(id string) (Metrics, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.metrics(id)
}

func (r *Runner) metrics(id string) (Metrics, error) {
	m, err := r.engine.Metrics(id)
	if err != nil {
		return Metrics{}, err
	}
	if meter := r.meters[id]; meter != nil {
		m.Rate, m.RateMax = meter.rate(), meter.max
	}
	return m, nil
}

// info builds a RuleInfo; r.mu is held.
func (r *Runner) info(id string) (RuleInfo, error) {
	def, err := r.engine.Get(id)
	if err != nil {
		return RuleInfo{}, err
	}
	m, _ := r.metrics(id)
	return RuleInfo{Rule: def, Source: r.source[id], Metrics: m}, nil
}

// Test runs sql against a sample event without creating a rule (see
// Engine.TestSample).
func (r *Runner) Test(sql string, s Sample) ([]Output, error) {
	return r.engine.TestSample(sql, s)
}

// persist writes the API rules to rules.json; r.mu is held.
func (r *Runner) persist() error {
	if r.store == nil {
		return nil
	}
	var api []Rule
	for _, def := range r.engine.List() {
		if r.source[def.ID] == SourceAPI {
			api = append(api, def)
		}
	}
	return r.store.save(api)
}
