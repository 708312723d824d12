package rule

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// republish publishes each output as a new message into the hub.
//
// Spec keys: topic (template, required), qos (0, 1, 2 or a template such
// as "${qos}"; default 0), retain (bool or a template; default false),
// payload (template; default: the output as a JSON object).
type republish struct {
	ruleID  string
	pub     Publisher
	topic   *Template
	qos     int       // used when qosTpl is nil
	qosTpl  *Template // "${qos}"
	retain  bool
	retTpl  *Template
	payload *Template // nil: the output as JSON
}

func newRepublish(ctx ActionContext, spec ActionSpec) (Action, error) {
	if err := spec.Check("topic", "qos", "retain", "payload"); err != nil {
		return nil, err
	}
	if ctx.Publisher == nil {
		return nil, fmt.Errorf("republish: no publisher")
	}
	a := &republish{ruleID: ctx.RuleID, pub: ctx.Publisher}
	t, err := spec.String("topic")
	if err != nil {
		return nil, err
	}
	if t == "" {
		return nil, fmt.Errorf("republish: topic is required")
	}
	if a.topic, err = ParseTemplate(t); err != nil {
		return nil, fmt.Errorf("republish: topic: %w", err)
	}
	if err := checkLoop(a.topic, ctx.Filters); err != nil {
		return nil, err
	}
	if a.qos, a.qosTpl, err = intOrTemplate(spec, "qos", 0, 2); err != nil {
		return nil, err
	}
	if a.retain, a.retTpl, err = boolOrTemplate(spec, "retain"); err != nil {
		return nil, err
	}
	if p, err := spec.String("payload"); err != nil {
		return nil, err
	} else if p != "" {
		if a.payload, err = ParseTemplate(p); err != nil {
			return nil, fmt.Errorf("republish: payload: %w", err)
		}
	}
	return a, nil
}

func intOrTemplate(spec ActionSpec, key string, lo, hi int) (int, *Template, error) {
	switch v := spec[key].(type) {
	case nil:
		return lo, nil, nil
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return checkRange(key, n, lo, hi)
		}
		t, err := ParseTemplate(v)
		if err != nil {
			return 0, nil, fmt.Errorf("republish: %s: %w", key, err)
		}
		return 0, t, nil
	case int:
		return checkRange(key, v, lo, hi)
	case int64:
		return checkRange(key, int(v), lo, hi)
	case float64:
		if v == float64(int(v)) {
			return checkRange(key, int(v), lo, hi)
		}
	}
	return 0, nil, fmt.Errorf("republish: %s: want %d to %d or a template, got %v", key, lo, hi, spec[key])
}

func checkRange(key string, n, lo, hi int) (int, *Template, error) {
	if n < lo || n > hi {
		return 0, nil, fmt.Errorf("republish: %s: %d is not in [%d, %d]", key, n, lo, hi)
	}
	return n, nil, nil
}

func boolOrTemplate(spec ActionSpec, key string) (bool, *Template, error) {
	switch v := spec[key].(type) {
	case nil:
		return false, nil, nil
	case bool:
		return v, nil, nil
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, nil, nil
		}
		t, err := ParseTemplate(v)
		if err != nil {
			return false, nil, fmt.Errorf("republish: %s: %w", key, err)
		}
		return false, t, nil
	}
	return false, nil, fmt.Errorf("republish: %s: want true, false or a template, got %v", key, spec[key])
}

// checkLoop refuses a topic template that can produce a topic matching one
// of the rule's own FROM filters: each republished message would match the
// rule again. A level holding a placeholder can take any value, including
// '/', so from there on the template is treated as "#".
func checkLoop(t *Template, filters []string) error {
	pattern := templatePattern(t.String())
	for _, f := range filters {
		if filtersOverlap(pattern, f) {
			return fmt.Errorf("republish: topic %q can match the rule's own FROM %q: the rule would feed itself", t.String(), f)
		}
	}
	return nil
}

// templatePattern turns a topic template into a filter that matches every
// topic it can render to.
func templatePattern(s string) string {
	levels := strings.Split(s, "/")
	for i, l := range levels {
		if strings.Contains(l, "${") || l == "+" || l == "#" {
			return strings.Join(append(levels[:i:i], "#"), "/")
		}
	}
	return s
}

// filtersOverlap reports whether some topic name matches both filters
// (ignoring that leading wildcards skip '$' topics: it errs on "yes").
func filtersOverlap(a, b string) bool {
	la, lb := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; ; i++ {
		aEnd, bEnd := i == len(la), i == len(lb)
		switch {
		case aEnd && bEnd:
			return true
		case !aEnd && la[i] == "#", !bEnd && lb[i] == "#":
			return true
		case aEnd, bEnd:
			return false
		case la[i] != lb[i] && la[i] != "+" && lb[i] != "+":
			return false
		}
	}
}

// Do renders the templates and publishes. The message's Origin records the
// chain of rules it went through (see msg.Origin); ClientID is empty (a
// message of the hub itself).
func (a *republish) Do(ctx context.Context, out Output) error {
	name := a.topic.Render(&out)
	if err := topic.ValidateName(name); err != nil {
		return fmt.Errorf("republish: topic %q: %w", name, err)
	}
	var prev msg.Origin
	if out.Event != nil && out.Event.Message != nil {
		prev = out.Event.Message.Origin
	}
	origin, err := nextOrigin(prev, a.ruleID)
	if err != nil {
		return err
	}
	m := &msg.Message{Topic: name, QoS: byte(a.qos), Retain: a.retain, Origin: origin}
	if a.qosTpl != nil {
		q, err := strconv.Atoi(a.qosTpl.Render(&out))
		if err != nil || q < 0 || q > 2 {
			return fmt.Errorf("republish: qos %q is not 0, 1 or 2", a.qosTpl.Render(&out))
		}
		m.QoS = byte(q)
	}
	if a.retTpl != nil {
		m.Retain, _ = strconv.ParseBool(a.retTpl.Render(&out))
	}
	if a.payload != nil {
		m.Payload = a.payload.Append(nil, &out)
	} else if m.Payload, err = out.MarshalJSON(); err != nil {
		return fmt.Errorf("republish: %w", err)
	}
	if _, err := a.pub.Publish(ctx, m); err != nil {
		return fmt.Errorf("republish: %w", err)
	}
	return nil
}

var _ Action = (*republish)(nil)
