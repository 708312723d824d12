package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/iothub-dev/iothub/internal/rule"
)

// RuleManager manages the rule engine's rules; *rule.Runner implements it
// (docs/rules.md, "The API").
type RuleManager interface {
	List() []rule.RuleInfo
	Get(id string) (rule.RuleInfo, error)
	Create(def rule.Rule) (rule.RuleInfo, error)
	Update(def rule.Rule) (rule.RuleInfo, error)
	Delete(id string) error
	Enable(id string) (rule.RuleInfo, error)
	Disable(id string) (rule.RuleInfo, error)
	Metrics(id string) (rule.Metrics, error)
	Test(sql string, s rule.Sample) ([]rule.Output, error)
}

// ruleRoutes are the endpoints of the rule engine.
func (a *API) ruleRoutes() []route {
	return []route{
		{"GET /api/v1/rules", using(a.ruleManager, a.listRules)},
		{"POST /api/v1/rules", using(a.ruleManager, a.createRule)},
		{"POST /api/v1/rules/test", using(a.ruleManager, a.testRule)},
		{"GET /api/v1/rules/{id}", using(a.ruleManager, a.getRule)},
		{"PUT /api/v1/rules/{id}", using(a.ruleManager, a.updateRule)},
		{"DELETE /api/v1/rules/{id}", using(a.ruleManager, a.deleteRule)},
		{"POST /api/v1/rules/{id}/enable", a.enableRule(true)},
		{"POST /api/v1/rules/{id}/disable", a.enableRule(false)},
		{"GET /api/v1/rules/{id}/metrics", using(a.ruleManager, a.ruleMetrics)},
	}
}

// ruleManager returns the hub's rule manager, or a 503 when there is none.
func (a *API) ruleManager() (RuleManager, error) {
	return component(a.o.Rules, errorf(http.StatusServiceUnavailable, CodeNotReady, "the rule engine is not running"))
}

// ruleError maps an error of the rule package to an *Error: a statement's
// mistake names the position ("unknown function 'lowr' at 1:8").
func ruleError(err error, id string) error {
	var sqlErr *rule.SQLError
	switch {
	case errors.As(err, &sqlErr):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidSQL, Field: "sql", Message: sqlErr.Error(), Err: err}
	case errors.Is(err, rule.ErrNotFound):
		return errorf(http.StatusNotFound, CodeRuleNotFound, "no rule %q", id)
	case errors.Is(err, rule.ErrExists):
		return errorf(http.StatusConflict, CodeRuleExists, "a rule %q already exists", id)
	case errors.Is(err, rule.ErrReadOnly):
		return errorf(http.StatusForbidden, CodeRuleReadOnly,
			"rule %q is defined in the configuration file (rules.list): change the file and restart the hub", id)
	case errors.Is(err, rule.ErrNoMatch):
		return &Error{Status: http.StatusBadRequest, Code: CodeSampleNoMatch, Field: "event", Message: err.Error(), Err: err}
	case errors.Is(err, rule.ErrEval):
		return &Error{Status: http.StatusBadRequest, Code: CodeEvalFailed, Message: err.Error(), Err: err}
	case errors.Is(err, rule.ErrBadRule), errors.Is(err, rule.ErrSyntax), errors.Is(err, rule.ErrInvalid):
		msg := strings.TrimPrefix(err.Error(), rule.ErrBadRule.Error()+": ")
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRule, Message: msg, Err: err}
	}
	return err
}

// ruleList is the answer of GET /api/v1/rules.
type ruleList struct {
	Data []rule.RuleInfo `json:"data"`
}

func (a *API) listRules(m RuleManager, w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, ruleList{Data: m.List()})
	return nil
}

func (a *API) getRule(m RuleManager, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	info, err := m.Get(id)
	return reply(w, http.StatusOK, info, err, func(err error) error { return ruleError(err, id) })
}

// ruleBody is the body of POST and PUT: a rule definition, enabled unless
// it says otherwise.
type ruleBody struct {
	ID          string            `json:"id"`
	SQL         string            `json:"sql"`
	Description string            `json:"description"`
	Enabled     *bool             `json:"enabled"`
	Actions     []rule.ActionSpec `json:"actions"`
}

func (b ruleBody) rule() rule.Rule {
	return rule.Rule{ID: b.ID, SQL: b.SQL, Description: b.Description,
		Enabled: b.Enabled == nil || *b.Enabled, Actions: b.Actions}
}

// decodeRule decodes and checks a rule body; pathID is the id in the URL
// ("" for POST).
func decodeRule(r *http.Request, pathID string) (rule.Rule, error) {
	var b ruleBody
	if err := decodeBody(r.Body, &b); err != nil {
		return rule.Rule{}, err
	}
	switch {
	case pathID != "" && b.ID == "":
		b.ID = pathID
	case pathID != "" && b.ID != pathID:
		return rule.Rule{}, badField("id", "%q differs from the id in the path, %q", b.ID, pathID)
	}
	if err := rule.ValidateID(b.ID); err != nil {
		return rule.Rule{}, badField("id", "%q: want 1 to 64 letters, digits, '_', '-' or '.'", b.ID)
	}
	if b.SQL == "" {
		return rule.Rule{}, badField("sql", "a statement is required")
	}
	for i, s := range b.Actions {
		if s.Type() == "" {
			return rule.Rule{}, badField("actions", "[%d]: \"type\" is required", i)
		}
	}
	return b.rule(), nil
}

func (a *API) createRule(m RuleManager, w http.ResponseWriter, r *http.Request) error {
	def, err := decodeRule(r, "")
	if err != nil {
		return err
	}
	info, err := m.Create(def)
	if err != nil {
		return ruleError(err, def.ID)
	}
	a.log.Info("rule created through the API", "rule", def.ID, "enabled", def.Enabled)
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func (a *API) updateRule(m RuleManager, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := m.Get(id); err != nil {
		return ruleError(err, id) // 404 before a body error
	}
	def, err := decodeRule(r, id)
	if err != nil {
		return err
	}
	info, err := m.Update(def)
	if err != nil {
		return ruleError(err, id)
	}
	a.log.Info("rule updated through the API", "rule", id, "enabled", def.Enabled)
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (a *API) deleteRule(m RuleManager, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := m.Delete(id); err != nil {
		return ruleError(err, id)
	}
	a.log.Info("rule deleted through the API", "rule", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// enableRule answers POST …/enable (on) and …/disable.
func (a *API) enableRule(on bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		m, err := a.ruleManager()
		if err != nil {
			return err
		}
		id := r.PathValue("id")
		set := m.Disable
		if on {
			set = m.Enable
		}
		info, err := set(id)
		if err != nil {
			return ruleError(err, id)
		}
		a.log.Info("rule enabled or disabled through the API", "rule", id, "enabled", on)
		writeJSON(w, http.StatusOK, info)
		return nil
	}
}

func (a *API) ruleMetrics(m RuleManager, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	met, err := m.Metrics(id)
	return reply(w, http.StatusOK, met, err, func(err error) error { return ruleError(err, id) })
}

// ruleTestBody is the body of POST /api/v1/rules/test: the statement
// and either our sample or EMQX's context (the body of EMQX's
// /rule_test: the event's columns by name, "event_type" naming it).
type ruleTestBody struct {
	SQL     string         `json:"sql"`
	Sample  sampleBody     `json:"sample"`
	Context map[string]any `json:"context"`
}

// sampleBody is a rule.Sample whose payload may be any JSON value: a
// string is the payload text, anything else its JSON text (as for
// publish).
type sampleBody struct {
	rule.Sample
	Payload json.RawMessage `json:"payload"`
}

// ruleTestAnswer lists the outputs of a test, one object per output.
type ruleTestAnswer struct {
	Outputs []rule.Output `json:"outputs"`
}

func (a *API) testRule(m RuleManager, w http.ResponseWriter, r *http.Request) error {
	var b ruleTestBody
	if err := decodeBody(r.Body, &b); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Field != "" { // drop the embedded struct's name
			e.Field = strings.ReplaceAll(e.Field, "Sample.", "")
			e.Message = strings.ReplaceAll(e.Message, "Sample.", "")
		}
		return err
	}
	if b.SQL == "" {
		return badField("sql", "a statement is required")
	}
	s, err := b.sample()
	if err != nil {
		return err
	}
	outs, err := m.Test(b.SQL, s)
	if errors.Is(err, rule.ErrNoMatch) {
		event := cmp.Or(s.Event, "the statement's first source")
		return &Error{Status: http.StatusBadRequest, Code: CodeSampleNoMatch, Field: "sample", Err: err,
			Message: fmt.Sprintf("the sample (event %s, topic %q) does not match the statement's FROM", event, s.Topic)}
	}
	if err != nil {
		return ruleError(err, "")
	}
	if outs == nil {
		outs = []rule.Output{}
	}
	writeJSON(w, http.StatusOK, ruleTestAnswer{Outputs: outs})
	return nil
}

// sample returns the event the body describes, from "sample" or from
// EMQX's "context" (not both).
func (b *ruleTestBody) sample() (rule.Sample, error) {
	if b.Context != nil {
		if b.Sample.Payload != nil || !reflect.DeepEqual(b.Sample.Sample, rule.Sample{}) {
			return rule.Sample{}, badField("context", "give sample or context, not both")
		}
		s, err := rule.SampleFromContext(b.Context)
		if err != nil {
			return rule.Sample{}, badField("context", "%s", strings.TrimPrefix(err.Error(), rule.ErrBadRule.Error()+": context."))
		}
		return s, nil
	}
	payload, err := decodePayload(b.Sample.Payload, "")
	if err != nil {
		return rule.Sample{}, badField("sample.payload", "not valid JSON")
	}
	s := b.Sample.Sample
	s.Payload = string(payload)
	return s, nil
}
