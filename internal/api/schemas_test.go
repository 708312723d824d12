package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/api"
	"github.com/iothub-dev/iothub/internal/schema"
)

const personProto = "message Person {\n  required string name = 1;\n  required int32 id = 2;\n  optional string email = 3;\n}"

// TestSchemas_lifecycle registers, reads, updates and deletes a schema
// through the API; a source with a mistake is refused with its line and
// column; a configuration schema is read-only.
func TestSchemas_lifecycle(t *testing.T) {
	reg := schema.New(schema.Options{DataDir: t.TempDir()})
	require.NoError(t, reg.AddConfig(schema.Schema{Name: "cfg", Source: personProto}))
	e := newEnv(t, func(o *api.Options) { o.Schemas = func() api.SchemaManager { return reg } })

	st, b := e.call(t, http.MethodPost, "/api/v1/schemas", map[string]any{"name": "protobuf_person", "type": "protobuf", "source": personProto})
	require.Equal(t, http.StatusCreated, st, "%s", b)
	got := obj(t, b)
	require.Equal(t, "api", got["origin"])
	require.Equal(t, []any{"Person"}, got["messages"])

	e.requireError(t, http.MethodPost, "/api/v1/schemas", map[string]any{"name": "protobuf_person", "source": personProto}, http.StatusConflict, "schema_exists")

	st, b = e.call(t, http.MethodPost, "/api/v1/schemas", map[string]any{"name": "bad", "source": "message P {\n  string name = ;\n}"})
	require.Equal(t, http.StatusBadRequest, st)
	require.Equal(t, map[string]any{"code": "invalid_schema", "field": "source",
		"message": `schema "bad": line 2, column 17: syntax error: unexpected ';', expecting int literal`}, obj(t, b))

	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"no source", http.MethodPost, "/api/v1/schemas", map[string]any{"name": "x"}, http.StatusBadRequest, "invalid_field"},
		{"no name", http.MethodPost, "/api/v1/schemas", map[string]any{"source": personProto}, http.StatusBadRequest, "invalid_field"},
		{"bad type", http.MethodPost, "/api/v1/schemas", map[string]any{"name": "x", "type": "avro", "source": personProto}, http.StatusBadRequest, "invalid_schema"},
		{"unknown key", http.MethodPost, "/api/v1/schemas", map[string]any{"name": "x", "sauce": personProto}, http.StatusBadRequest, "invalid_field"},
		{"read-only", http.MethodPut, "/api/v1/schemas/cfg", map[string]any{"source": personProto}, http.StatusForbidden, "schema_read_only"},
		{"delete read-only", http.MethodDelete, "/api/v1/schemas/cfg", nil, http.StatusForbidden, "schema_read_only"},
		{"name differs", http.MethodPut, "/api/v1/schemas/protobuf_person", map[string]any{"name": "y", "source": personProto}, http.StatusBadRequest, "invalid_field"},
		{"put missing", http.MethodPut, "/api/v1/schemas/nope", map[string]any{"source": personProto}, http.StatusNotFound, "schema_not_found"},
		{"get missing", http.MethodGet, "/api/v1/schemas/nope", nil, http.StatusNotFound, "schema_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.requireError(t, tc.method, tc.path, tc.body, tc.status, tc.code)
		})
	}

	st, b = e.call(t, http.MethodPut, "/api/v1/schemas/protobuf_person", map[string]any{"source": "syntax = \"proto3\";\nmessage Person { string name = 1; }\nmessage Pet { string name = 1; }", "description": "v2"})
	require.Equal(t, http.StatusOK, st, "%s", b)
	require.Equal(t, []any{"Person", "Pet"}, obj(t, b)["messages"])
	st, b = e.call(t, http.MethodGet, "/api/v1/schemas", nil)
	require.Equal(t, http.StatusOK, st)
	list := obj(t, b)["data"].([]any)
	require.Len(t, list, 2)
	require.Equal(t, "cfg", list[0].(map[string]any)["name"], "configuration schemas first")
	require.Equal(t, "v2", list[1].(map[string]any)["description"])

	st, _ = e.call(t, http.MethodDelete, "/api/v1/schemas/protobuf_person", nil)
	require.Equal(t, http.StatusNoContent, st)
	st, _ = e.call(t, http.MethodGet, "/api/v1/schemas/protobuf_person", nil)
	require.Equal(t, http.StatusNotFound, st)

	off := newEnv(t, nil)
	off.requireError(t, http.MethodGet, "/api/v1/schemas", nil, http.StatusServiceUnavailable, "not_ready")
}
