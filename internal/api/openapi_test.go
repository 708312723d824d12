package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/api"
)

// openAPIRoutes returns the document's operations as ServeMux patterns
// ("POST /api/v1/publish"), split by who mounts them: this package, or
// the app (x-iothub-mounted-by: app).
func openAPIRoutes(t *testing.T) (ours, app []string) {
	t.Helper()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(api.OpenAPI(), &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."), "an OpenAPI 3 document")
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				MountedBy string `json:"x-iothub-mounted-by"`
			}
			require.NoError(t, json.Unmarshal(raw, &op))
			p := strings.ToUpper(method) + " " + muxPath(path)
			if op.MountedBy == "app" {
				app = append(app, p)
			} else {
				ours = append(ours, p)
			}
		}
	}
	slices.Sort(ours)
	slices.Sort(app)
	return ours, app
}

// muxPath turns an OpenAPI path into its ServeMux pattern: a {topic}
// parameter, and the {value} of a ban (a CIDR prefix), hold slashes, so
// they are {topic...} and {value...} wildcards.
func muxPath(p string) string {
	return strings.NewReplacer("{topic}", "{topic...}", "{value}", "{value...}").Replace(p)
}

// TestOpenAPI_documentsEveryRoute checks both ways that every route
// Register adds is in openapi.json and every documented route exists.
func TestOpenAPI_documentsEveryRoute(t *testing.T) {
	a := api.New(api.Options{})
	routes := a.Routes()
	slices.Sort(routes)
	ours, _ := openAPIRoutes(t)
	require.Equal(t, routes, ours, "api.Routes() and openapi.json differ")

	// Every documented route is served by the mux Register fills.
	mux := http.NewServeMux()
	a.Register(mux)
	for _, p := range ours {
		method, path, _ := strings.Cut(p, " ")
		url := regexp.MustCompile(`\{[a-z]+(\.\.\.)?\}`).ReplaceAllString(path, "x")
		req, err := http.NewRequest(method, url, nil)
		require.NoError(t, err)
		_, pattern := mux.Handler(req)
		require.Equal(t, p, pattern, "documented %s is not routed", p)
	}
}

// TestOpenAPI_errorCodes checks that the Error schema lists every code of
// codes.go.
func TestOpenAPI_errorCodes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Code struct {
							Enum []string `json:"enum"`
						} `json:"code"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(api.OpenAPI(), &doc))
	require.ElementsMatch(t, api.ErrorCodes(), doc.Components.Schemas.Error.Properties.Code.Enum)
}
