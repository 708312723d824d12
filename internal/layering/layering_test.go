package layering_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/iothub-dev/iothub/"

// pkg is what `go list -json` says of one package of the module.
type pkg struct {
	ImportPath string
	Standard   bool
	Deps       []string // every package it depends on, transitively (tests excluded)
	Imports    []string // the packages it imports itself (tests excluded)
}

// rule is one layering rule: every package matching pkgs may depend only
// on the module packages matching allow (when allow is set), and on no
// package, of the module or not, matching deny.
type rule struct {
	why   string
	pkgs  []string // module-relative patterns: "msg", "mqtt/...", "..." for all
	allow []string // module-relative patterns; nil: no allow list
	deny  []string // module-relative patterns, or full paths of third-party modules ("github.com/nats-io/...")
	// except are module-relative patterns that deny does not cover.
	except []string
	// stdlibOnly forbids every dependency outside the standard library.
	stdlibOnly bool
	// imports, when set, lists the only third-party packages (full-path
	// patterns) the packages may import themselves; what those import in
	// turn is theirs.
	imports []string
}

// rules are docs/design.md's layering, leaf first.
var rules = []rule{
	{why: "the message value and the topic rules are leaves", pkgs: []string{"msg", "mqtt/topic"}, allow: []string{}, stdlibOnly: true},
	{why: "the logging helpers and the template syntax are leaves everyone may use", pkgs: []string{"logging", "template"}, allow: []string{}, stdlibOnly: true},
	{why: "the codec imports only the topic rules", pkgs: []string{"mqtt/packet", "mqtt/packet/packettest"},
		allow: []string{"mqtt/topic", "mqtt/packet"}, stdlibOnly: true},
	{why: "storage is below everything that persists", pkgs: []string{"storage", "storage/..."},
		allow: []string{"storage/...", "msg", "mqtt/...", "logging"}},
	{why: "authentication plugs into the broker from below", pkgs: []string{"auth", "auth/..."},
		allow: []string{"auth", "auth/...", "msg", "mqtt/...", "storage/...", "logging"}},
	{why: "bridges see messages, never the broker or the rule engine", pkgs: []string{"bridge", "bridge/..."},
		allow: []string{"bridge", "bridge/...", "msg", "mqtt/...", "storage/...", "logging", "template", "config", "auth"}},
	{why: "config knows the bridge registry, not the bridge types, which import it for their settings",
		pkgs:  []string{"config"},
		allow: []string{"bridge", "bridge/diskqueue", "msg", "mqtt/...", "logging", "template", "auth", "storage/statefile"}},
	{why: "the bridge manager runs any registered type: only the wiring imports the types",
		pkgs: []string{"internal/bridgemgr", "internal/metrics"},
		deny: []string{"bridge/kafka", "bridge/mqtt", "bridge/postgres", "bridge/redis", "bridge/webhook"}},
	{why: "public packages are importable by others and cannot depend on internal ones",
		pkgs: []string{"msg", "mqtt/...", "auth", "auth/...", "bridge", "bridge/...", "storage", "storage/...", "config", "bench", "logging", "template"},
		deny: []string{"internal/..."}},
	{why: "the broker knows nothing of rules, bridges, config, the API or the cluster transport",
		pkgs: []string{"internal/broker"},
		deny: []string{"internal/rule", "internal/api", "internal/app", "internal/bridgemgr", "internal/metrics",
			"internal/cluster", "internal/cluster/...", "internal/listener", "internal/upstream", "bridge", "bridge/...", "config",
			"github.com/nats-io/...", "github.com/twmb/...", "github.com/jackc/...", "github.com/redis/..."}},
	{why: "the rule engine reaches the broker through interfaces it declares",
		pkgs: []string{"internal/rule", "internal/rule/..."},
		deny: []string{"internal/broker", "internal/api", "internal/app", "internal/bridgemgr", "bridge", "bridge/...", "config"}},
	{why: "the HTTP API reaches components through interfaces it declares",
		pkgs:   []string{"internal/api", "internal/api/..."},
		deny:   []string{"internal/app", "internal/bridgemgr", "bridge/...", "config"},
		except: []string{"bridge", "bridge/diskqueue"}}, // the bridge interfaces and errors, and what they bring
	{why: "the device services reach the broker and the API through interfaces they declare",
		pkgs: []string{"internal/device", "internal/device/..."},
		deny: []string{"internal/broker", "internal/api", "internal/app", "internal/rule", "internal/bridgemgr", "bridge", "bridge/...", "config"}},
	{why: "the edge link uses the bridge engine and the broker's types, not the API, the bridge manager or other sinks",
		pkgs: []string{"internal/upstream"},
		deny: []string{"internal/api", "internal/app", "internal/bridgemgr", "internal/metrics", "bridge/kafka",
			"bridge/redis", "bridge/postgres", "bridge/webhook", "bridge/mqtt"}},
	{why: "the dashboard is static files: it talks to the hub only through the HTTP API",
		pkgs: []string{"internal/dashboard"}, stdlibOnly: true},
	{why: "only main and the tests import the wiring", pkgs: []string{"..."},
		deny: []string{"internal/app"}},
	{why: "nothing imports the black-box tests", pkgs: []string{"..."},
		deny: []string{"test/..."}},
	{why: "the schema registry is a leaf under the rules and the API", pkgs: []string{"internal/schema"},
		allow: []string{"storage/..."}},
	{why: "examples use only what users can import: our exported packages, paho and franz-go", pkgs: []string{"examples/..."},
		deny:    []string{"internal/...", "cmd/...", "test/..."},
		imports: []string{"github.com/eclipse/paho.golang/...", "github.com/eclipse/paho.mqtt.golang", "github.com/twmb/franz-go/..."}},
}

// exempt are packages a rule does not apply to, by rule reason.
var exempt = map[string][]string{
	"only main and the tests import the wiring": {"internal/app", "cmd/iothub", "test/..."},
}

func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	require.NotEmpty(t, pkgs)
	var problems []string
	for _, r := range rules {
		for _, p := range pkgs {
			name := strings.TrimPrefix(p.ImportPath, module)
			if !matchAny(name, r.pkgs) || matchAny(name, exempt[r.why]) {
				continue
			}
			for _, dep := range p.Deps {
				if msg := r.check(dep); msg != "" {
					problems = append(problems, fmt.Sprintf("%s depends on %s: %s (rule: %s)", name, dep, msg, r.why))
				}
			}
			for _, imp := range p.Imports {
				if msg := r.checkImport(imp); msg != "" {
					problems = append(problems, fmt.Sprintf("%s imports %s: %s (rule: %s)", name, imp, msg, r.why))
				}
			}
		}
	}
	require.Empty(t, problems, "layering broken (docs/design.md, Packages):\n%s", strings.Join(problems, "\n"))
}

// check returns why dep breaks r, or "".
func (r rule) check(dep string) string {
	own, isOwn := strings.CutPrefix(dep, module)
	switch {
	case isOwn && matchAny(own, r.deny) && !matchAny(own, r.except), !isOwn && !isStandard(dep) && matchAny(dep, r.deny):
		return "denied"
	case isOwn && r.allow != nil && !matchAny(own, r.allow):
		return "not in the allow list"
	case !isOwn && r.stdlibOnly && !isStandard(dep):
		return "outside the standard library"
	}
	return ""
}

// checkImport returns why a direct import breaks r's imports list, or "".
func (r rule) checkImport(imp string) string {
	if r.imports == nil || strings.HasPrefix(imp, module) || isStandard(imp) || matchAny(imp, r.imports) {
		return ""
	}
	return "a third-party package not in the list"
}

// TestLayering_rulesBite checks the checker: a dependency each rule forbids
// is reported, so that a typo in a pattern cannot turn a rule off.
func TestLayering_rulesBite(t *testing.T) {
	tests := []struct {
		rule string // a word of the rule's reason
		dep  string
	}{
		{"topic rules are leaves", "github.com/stretchr/testify/require"},
		{"topic rules are leaves", module + "mqtt/packet"},
		{"template syntax", module + "msg"},
		{"codec", module + "msg"},
		{"authentication", module + "internal/broker"},
		{"bridges see", module + "internal/rule"},
		{"config knows the bridge registry", module + "bridge/kafka"},
		{"config knows the bridge registry", module + "internal/rule"},
		{"the bridge manager runs any registered type", module + "bridge/redis"},
		{"public packages", module + "internal/fsutil"},
		{"the broker knows", module + "internal/rule"},
		{"the broker knows", "github.com/nats-io/nats.go"},
		{"the rule engine reaches", module + "internal/broker"},
		{"the HTTP API reaches", module + "internal/bridgemgr"},
		{"the HTTP API reaches", module + "bridge/kafka"},
		{"schema registry", module + "internal/rule"},
		{"examples use", module + "internal/broker"},
	}
	for _, tt := range tests {
		r := ruleAbout(t, tt.rule)
		require.NotEmpty(t, r.check(tt.dep), "rule %q must forbid %s", r.why, tt.dep)
	}
	require.Empty(t, ruleAbout(t, "the broker knows").check("sync"), "the standard library is always allowed")
	require.Empty(t, ruleAbout(t, "authentication").check(module+"mqtt/packet"))
	require.Empty(t, ruleAbout(t, "the HTTP API reaches").check(module+"bridge"), "the API may use the bridge interfaces")
	require.Empty(t, ruleAbout(t, "public packages").check("internal/race"), "the standard library's internal packages are not ours")
	require.NotEmpty(t, ruleAbout(t, "examples use").checkImport("github.com/nats-io/nats.go"))
	require.Empty(t, ruleAbout(t, "examples use").checkImport("github.com/twmb/franz-go/pkg/kgo"))
}

// ruleAbout returns the one rule whose reason contains words.
func ruleAbout(t *testing.T, words string) rule {
	t.Helper()
	var found []rule
	for _, r := range rules {
		if strings.Contains(r.why, words) {
			found = append(found, r)
		}
	}
	require.Len(t, found, 1, "rules whose reason says %q", words)
	return found[0]
}

// matchAny reports whether name matches one of patterns: "x/..." matches x
// and everything below it, "..." matches everything, anything else matches
// exactly.
func matchAny(name string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool {
		if p == "..." {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, "/..."); ok {
			return name == prefix || strings.HasPrefix(name, prefix+"/")
		}
		return name == p
	})
}

// isStandard reports whether an import path is in the standard library: its
// first element has no dot.
func isStandard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Standard,Deps,Imports", module+"...")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Run(), "go list: %s", errOut.String())
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p pkg
		require.NoError(t, dec.Decode(&p))
		pkgs = append(pkgs, p)
	}
	return pkgs
}
