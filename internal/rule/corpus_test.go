package rule

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"
)

// The EMQX corpus (testdata/emqx/*.txt) holds the cases that EMQX's
// documentation and its test suites (emqx_rule_funcs_SUITE,
// emqx_rule_engine_SUITE, emqx_rule_engine_api_rule_test_SUITE) give for
// rule SQL: each eval or expr command carries case=<suite>:<test>[/n] and
// expects EMQX's answer. Outputs compare as JSON (key order does not
// matter; numbers within 1e-12 of each other are equal, since math
// libraries differ in the last bit); a line starting with ~ is a subset: the output object has at
// least those keys with those values; any error matches any error. A case
// where iothub differs on purpose says differs=<section of docs/rules.md>:
// it counts as failed but does not fail the test. TestEMQXCorpus fails when
// another case fails or when fewer than minCorpusPass of all pass.
const minCorpusPass = 0.95

// corpus counts the corpus cases of one run.
type corpus struct {
	pass, fail int
	failed     []string // every case that differs
	unexpected []string // the cases that differ without differs=
}

// check compares actual with the expected output of a case-tagged
// command; for an untagged command it returns actual (plain datadriven).
func (c *corpus) check(t *testing.T, d *datadriven.TestData, actual string) string {
	var name, differs string
	for _, a := range d.CmdArgs {
		switch a.Key {
		case "case":
			name = strings.Join(a.Vals, ",")
		case "differs":
			differs = strings.Join(a.Vals, ",")
		}
	}
	if name == "" || c == nil {
		return actual
	}
	if sameOutput(d.Expected, actual) {
		if differs != "" {
			t.Errorf("%s: %s passes but is marked differs=%s", d.Pos, name, differs)
		}
		c.pass++
		return d.Expected
	}
	c.fail++
	c.failed = append(c.failed, name)
	if differs != "" {
		t.Logf("%s: %s differs on purpose (%s): got %s", d.Pos, name, differs, strings.TrimSpace(actual))
	} else {
		// Reported at the end: a failure here would stop the file.
		c.unexpected = append(c.unexpected, fmt.Sprintf("%s: %s: %s\nexpected (EMQX): %s\ngot: %s",
			d.Pos, name, d.Input, strings.TrimSpace(d.Expected), strings.TrimSpace(actual)))
	}
	return d.Expected // the file stays the specification
}

// sameOutput compares expected and actual line by line.
func sameOutput(expected, actual string) bool {
	exp := strings.Split(strings.TrimSpace(expected), "\n")
	act := strings.Split(strings.TrimSpace(actual), "\n")
	if len(exp) != len(act) {
		return false
	}
	for i := range exp {
		if !sameLine(strings.TrimSpace(exp[i]), strings.TrimSpace(act[i])) {
			return false
		}
	}
	return true
}

func sameLine(exp, act string) bool {
	if exp == act || strings.HasPrefix(exp, "error") && strings.HasPrefix(act, "error") {
		return true
	}
	subset := strings.HasPrefix(exp, "~")
	exp = strings.TrimPrefix(exp, "~")
	kind := ""
	if k, rest, ok := strings.Cut(exp, " "); ok && !strings.HasPrefix(exp, "{") && !strings.HasPrefix(exp, "[") {
		kind, exp = k, rest
		ak, arest, _ := strings.Cut(act, " ")
		if ak != kind {
			return false
		}
		act = arest
	}
	var e, a any
	if json.Unmarshal([]byte(exp), &e) != nil || json.Unmarshal([]byte(act), &a) != nil {
		return false
	}
	if subset {
		em, ok1 := e.(map[string]any)
		am, ok2 := a.(map[string]any)
		if !ok1 || !ok2 {
			return false
		}
		for k, v := range em {
			if !sameJSON(v, am[k]) {
				return false
			}
		}
		return true
	}
	return sameJSON(e, a)
}

// sameJSON is reflect.DeepEqual with a tolerance for numbers.
func sameJSON(e, a any) bool {
	switch x := e.(type) {
	case float64:
		y, ok := a.(float64)
		return ok && (x == y || math.Abs(x-y) <= 1e-12*math.Max(math.Abs(x), math.Abs(y)))
	case []any:
		y, ok := a.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := a.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !sameJSON(v, y[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(e, a)
}

// TestEMQXCorpus runs testdata/emqx and reports how many of EMQX's cases
// give EMQX's answer.
func TestEMQXCorpus(t *testing.T) {
	total := &corpus{}
	datadriven.Walk(t, "testdata/emqx", func(t *testing.T, path string) {
		s := &ddState{engine: NewEngine(EngineOptions{Now: func() time.Time { return fixedNow }}), corpus: total}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return s.run(t, d)
		})
	})
	n := total.pass + total.fail
	require.Positive(t, n)
	pct := 100 * float64(total.pass) / float64(n)
	t.Logf("EMQX corpus: %d/%d cases give EMQX's answer (%.1f%%)", total.pass, n, pct)
	if total.fail > 0 {
		t.Logf("cases that differ: %s", strings.Join(total.failed, " "))
	}
	for _, u := range total.unexpected {
		t.Error(u)
	}
	require.GreaterOrEqual(t, pct, 100*minCorpusPass, fmt.Sprintf("%d of %d cases differ", total.fail, n))
}
