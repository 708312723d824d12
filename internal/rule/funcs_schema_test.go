package rule

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/iothub-dev/iothub/internal/schema"
)

// TestSchemaFunctions follows EMQX's protobuf example: a device sends a
// Person, a rule decodes it and picks a field; schema_encode builds a
// command from JSON.
func TestSchemaFunctions(t *testing.T) {
	reg := schema.New(schema.Options{})
	require.NoError(t, reg.AddConfig(schema.Schema{Name: "protobuf_person", Source: `message Person {
  required string name = 1;
  required int32 id = 2;
  optional string email = 3;
}`}))
	e := NewEngine(EngineOptions{Now: func() time.Time { return fixedNow }, Schemas: reg})
	var frame []byte
	frame = protowire.AppendTag(frame, 1, protowire.BytesType)
	frame = protowire.AppendString(frame, "Shawn")
	frame = protowire.AppendTag(frame, 2, protowire.VarintType)
	frame = protowire.AppendVarint(frame, 1)

	tests := []struct {
		name, sql, payload, want string
	}{
		{"decode", `SELECT schema_decode('protobuf_person', payload, 'Person') AS person FROM "t/#" WHERE person.name = 'Shawn'`,
			string(frame), `[{"person":{"id":1,"name":"Shawn"}}]`},
		{"where false", `SELECT schema_decode('protobuf_person', payload, 'Person') AS person FROM "t/#" WHERE person.name = 'x'`,
			string(frame), `[]`},
		{"encode", `SELECT bin2hexstr(schema_encode('protobuf_person', json_decode(payload), 'Person')) AS hex FROM "t/#"`,
			`{"name":"Shawn","id":1}`, `[{"hex":"0A05536861776E1001"}]`},
		{"encode a JSON string", `SELECT schema_encode('protobuf_person', payload, 'Person') = '` + string(frame) + `' AS same FROM "t/#"`,
			`{"name":"Shawn","id":1}`, `[{"same":true}]`},
		{"round trip", `SELECT schema_decode('protobuf_person', schema_encode('protobuf_person', payload, 'Person'), 'Person').id AS id FROM "t/#"`,
			`{"name":"Shawn","id":7}`, `[{"id":7}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs, err := e.TestSample(tc.sql, Sample{Topic: "t/1", Payload: tc.payload})
			require.NoError(t, err)
			require.Equal(t, tc.want, mustJSON(t, outs))
		})
	}

	failures := []struct{ name, sql, payload, text string }{
		{"unknown schema", `SELECT schema_decode('nope', payload, 'Person') FROM "t/#"`, string(frame), `schema_decode: schema: not found: no schema "nope"`},
		{"bad frame", `SELECT schema_decode('protobuf_person', payload, 'Person') FROM "t/#"`, "\x0a\x09Sh", "schema_decode: schema: decode failed: Person"},
		{"unknown field", `SELECT schema_encode('protobuf_person', payload, 'Person') FROM "t/#"`, `{"name":"a","id":1,"age":3}`, `has no field "age"`},
		{"not an object", `SELECT schema_encode('protobuf_person', 3, 'Person') FROM "t/#"`, `{}`, "argument 2 is an int, not an object"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.TestSample(tc.sql, Sample{Topic: "t/1", Payload: tc.payload})
			require.ErrorIs(t, err, ErrEval)
			require.ErrorContains(t, err, tc.text)
		})
	}

	_, err := NewEngine(EngineOptions{}).TestSample(`SELECT schema_decode('p', payload, 'Person') FROM "t/#"`, Sample{Topic: "t/1", Payload: "x"})
	require.ErrorContains(t, err, "no schema registry")
}

func mustJSON(t *testing.T, outs []Output) string {
	t.Helper()
	if outs == nil {
		outs = []Output{}
	}
	b, err := json.Marshal(outs)
	require.NoError(t, err)
	return string(b)
}
