package dashboard_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/api"
)

var (
	// apiCallSite is a request the UI makes with a literal path: the API
	// client's helpers, api.call with its method, or an EventSource. The
	// path is a quoted string or a template whose ${…} may hold quotes.
	apiCallSite = regexp.MustCompile(`(?:api\.(get|post|put|del)\(|api\.call\('([A-Z]+)',\s*|new EventSource\()` +
		"\\s*(?:'([^']*)'|`((?:[^`$]|\\$\\{(?:[^{}]|\\{[^{}]*\\})*\\})*)`)")
	// requiresList is a page's list of the operations it needs.
	requiresList = regexp.MustCompile(`requires:\s*\[([^\]]*)\]`)
	// templateHole is one ${…} of a template string.
	templateHole = regexp.MustCompile(`\$\{((?:[^{}]|\{[^{}]*\})*)\}`)
	// choice is a ${cond ? 'a' : 'b'} hole: either literal.
	choice = regexp.MustCompile(`^[^?]*\?\s*'([^']*)'\s*:\s*'([^']*)'\s*$`)
	// pathParam is an OpenAPI path parameter.
	pathParam = regexp.MustCompile(`\{[^}]+\}`)
)

// documentedOperations returns openapi.json's operations as "GET
// /api/v1/clients/{}" (parameters unnamed).
func documentedOperations(t *testing.T) map[string]bool {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(api.OpenAPI(), &doc))
	ops := map[string]bool{}
	for path, methods := range doc.Paths {
		for method := range methods {
			ops[strings.ToUpper(method)+" "+pathParam.ReplaceAllString(path, "{}")] = true
		}
	}
	return ops
}

// expandPath turns a JavaScript path literal into the paths it can be:
// each ${…} is a parameter, except a choice between two literals.
func expandPath(p string) []string {
	out := []string{""}
	last := 0
	for _, m := range templateHole.FindAllStringSubmatchIndex(p, -1) {
		lit := p[last:m[0]]
		var alts []string
		if c := choice.FindStringSubmatch(p[m[2]:m[3]]); c != nil {
			alts = []string{c[1], c[2]}
		} else {
			alts = []string{"{}"}
		}
		var next []string
		for _, o := range out {
			for _, a := range alts {
				next = append(next, o+lit+a)
			}
		}
		out, last = next, m[1]
	}
	for i := range out {
		out[i] += p[last:]
	}
	return out
}

// TestUI_callsOnlyDocumentedAPI reads every module of the dashboard and
// checks that each request it makes, and each operation a page requires,
// is an operation of openapi.json: the dashboard has no private back door.
// A mention of /api/v1/ the scan does not understand fails the test, so a
// new kind of call cannot slip past it.
func TestUI_callsOnlyDocumentedAPI(t *testing.T) {
	ops := documentedOperations(t)
	methods := map[string]string{"get": "GET", "post": "POST", "put": "PUT", "del": "DELETE"}
	calls := 0
	err := filepath.WalkDir("ui", func(file string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(file) != ".js" {
			return err
		}
		raw, err := os.ReadFile(file)
		require.NoError(t, err)
		var code strings.Builder // the module without its comment lines
		for line := range strings.Lines(string(raw)) {
			if !strings.HasPrefix(strings.TrimSpace(line), "//") {
				code.WriteString(line)
			}
		}
		src := code.String()
		seen := 0
		for _, m := range apiCallSite.FindAllStringSubmatch(src, -1) {
			method := methods[m[1]]
			if m[2] != "" {
				method = m[2]
			} else if method == "" {
				method = "GET" // EventSource
			}
			path := m[3] + m[4]
			if !strings.Contains(path, "/api/v1/") {
				continue
			}
			seen++
			for _, p := range expandPath(path) {
				require.True(t, ops[method+" "+p], "%s: %s %s is not in openapi.json", file, method, p)
				calls++
			}
		}
		for _, m := range requiresList.FindAllStringSubmatch(src, -1) {
			for op := range strings.SplitSeq(m[1], ",") {
				op = strings.Trim(strings.TrimSpace(op), "'")
				if op == "" {
					continue
				}
				seen++
				require.True(t, ops[pathParam.ReplaceAllString(op, "{}")], "%s requires %s, not in openapi.json", file, op)
			}
		}
		// The API client's own test of a path prefix is no request.
		mentions := strings.Count(src, "/api/v1/") - strings.Count(src, "startsWith('/api/v1/auth/')")
		require.Equal(t, mentions, seen, "%s mentions /api/v1/ outside the calls this test reads", file)
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, calls, 40, "the scan found the dashboard's requests")
}

func TestExpandPath(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"/api/v1/rules", []string{"/api/v1/rules"}},
		{"/api/v1/clients/${api.enc(c.client_id)}/session", []string{"/api/v1/clients/{}/session"}},
		{"/api/v1/rules/${api.enc(r.id)}/${r.enabled ? 'disable' : 'enable'}",
			[]string{"/api/v1/rules/{}/disable", "/api/v1/rules/{}/enable"}},
		{"/api/v1/bans/${api.enc(x.kind)}/${x.value.split('/').map(api.enc).join('/')}", []string{"/api/v1/bans/{}/{}"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, expandPath(tc.in))
		})
	}
}
