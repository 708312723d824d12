package rule

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocs_everyFunction keeps docs/rules.md listing every function, and
// every function documented here.
func TestDocs_everyFunction(t *testing.T) {
	if os.Getenv("IOTHUB_PRINT_FUNCS") != "" {
		for _, name := range FunctionNames() {
			sig, desc, _ := strings.Cut(funcs[name].doc, " — ")
			t.Logf("| `%s` | %s |", sig, desc)
		}
	}
	b, err := os.ReadFile("../../docs/rules.md")
	require.NoError(t, err)
	doc := string(b)
	for _, name := range FunctionNames() {
		require.NotEmpty(t, funcs[name].doc, "function %s has no doc", name)
		require.Contains(t, doc, "`"+name+"(", "docs/rules.md does not list %s", name)
	}
	for name := range fields {
		require.Contains(t, doc, "`"+name+"`", "docs/rules.md does not list field %s", name)
	}
}

// TestDocs_examplesCompile compiles every statement of the sql blocks of
// docs/rules.md (statements are separated by blank lines).
func TestDocs_examplesCompile(t *testing.T) {
	b, err := os.ReadFile("../../docs/rules.md")
	require.NoError(t, err)
	n := 0
	for _, block := range strings.Split(string(b), "```sql\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		for _, stmt := range strings.Split(block, "\n\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			n++
			require.NoError(t, Compile(stmt), stmt)
		}
	}
	require.Greater(t, n, 5)
}
