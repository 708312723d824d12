package schema

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// personProto is EMQX's schema registry example (proto2, no syntax line).
const personProto = `message Person {
  required string name = 1;
  required int32 id = 2;
  optional string email = 3;
}`

// telemetryProto is a proto3 schema with every kind the codec maps.
const telemetryProto = `syntax = "proto3";
package iot.v1;

enum Gear { PARK = 0; DRIVE = 1; REVERSE = 2; }

message Telemetry {
  string vin = 1;
  double speed = 2;
  float battery = 3;
  int64 odometer = 4;
  uint64 big = 5;
  bool charging = 6;
  Gear gear = 7;
  bytes raw = 8;
  repeated sint32 temps = 9;
  map<string, int32> counters = 10;
  Location location = 11;
  optional int32 alarm = 12;
  message Location { double lat = 1; double lon = 2; }
}

message Command { string action = 1; map<int32, string> args = 2; }
`

// person encodes Person by hand, field by field, so that the test does
// not depend on the code under test to build its input.
func person(name string, id int32, email string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(id))
	if email != "" {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, email)
	}
	return b
}

func newReg(t *testing.T, defs ...Schema) *Registry {
	t.Helper()
	r := New(Options{})
	for _, d := range defs {
		require.NoError(t, r.AddConfig(d))
	}
	return r
}

func TestDecode_person(t *testing.T) {
	r := newReg(t, Schema{Name: "protobuf_person", Source: personProto})
	got, err := r.Decode("protobuf_person", "Person", person("Shawn", 1, "liuxy@emqx.io"))
	require.NoError(t, err)
	require.Equal(t, map[string]any{"name": "Shawn", "id": int64(1), "email": "liuxy@emqx.io"}, got)

	got, err = r.Decode("protobuf_person", "", person("Shawn", -5, ""))
	require.NoError(t, err, "the only message needs no name")
	require.Equal(t, map[string]any{"name": "Shawn", "id": int64(-5)}, got, "an unset optional field is left out")
}

func TestDecode_proto3Kinds(t *testing.T) {
	r := newReg(t, Schema{Name: "tel", Source: telemetryProto})
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "5YJ3E1EA7KF317000")
	b = protowire.AppendTag(b, 2, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(61.5))
	b = protowire.AppendTag(b, 3, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, math.Float32bits(float32(math.Inf(1))))
	b = protowire.AppendTag(b, 5, protowire.VarintType)
	b = protowire.AppendVarint(b, math.MaxUint64)
	b = protowire.AppendTag(b, 7, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte{0, 0xff})
	b = protowire.AppendTag(b, 9, protowire.BytesType) // packed sint32
	b = protowire.AppendBytes(b, protowire.AppendVarint(protowire.AppendVarint(nil, protowire.EncodeZigZag(-3)), protowire.EncodeZigZag(20)))
	entry := protowire.AppendTag(nil, 1, protowire.BytesType)
	entry = protowire.AppendString(entry, "restarts")
	entry = protowire.AppendTag(entry, 2, protowire.VarintType)
	entry = protowire.AppendVarint(entry, 3)
	b = protowire.AppendTag(b, 10, protowire.BytesType)
	b = protowire.AppendBytes(b, entry)
	loc := protowire.AppendTag(nil, 1, protowire.Fixed64Type)
	loc = protowire.AppendFixed64(loc, math.Float64bits(52.5))
	b = protowire.AppendTag(b, 11, protowire.BytesType)
	b = protowire.AppendBytes(b, loc)

	for _, name := range []string{"Telemetry", "iot.v1.Telemetry", ".iot.v1.Telemetry"} {
		got, err := r.Decode("tel", name, b)
		require.NoError(t, err, name)
		require.Equal(t, map[string]any{
			"vin": "5YJ3E1EA7KF317000", "speed": 61.5, "battery": "Infinity", "odometer": int64(0),
			"big": float64(math.MaxUint64), "charging": false, "gear": "DRIVE", "raw": "\x00\xff",
			"temps": []any{int64(-3), int64(20)}, "counters": map[string]any{"restarts": int64(3)},
			"location": map[string]any{"lat": 52.5, "lon": 0.0},
		}, got, "proto3 fields without presence are there at their default; the unset optional alarm is not")
	}
	got, err := r.Decode("tel", "Telemetry.Location", loc)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"lat": 52.5, "lon": 0.0}, got)
}

func TestDecode_errors(t *testing.T) {
	r := newReg(t, Schema{Name: "tel", Source: telemetryProto}, Schema{Name: "p", Source: personProto})
	tests := []struct {
		name, schema, msg string
		data              []byte
		want              error
		text              string
	}{
		{"no schema", "nope", "Telemetry", nil, ErrNotFound, `no schema "nope"`},
		{"no message", "tel", "Person", nil, ErrNotFound, `schema "tel" has no message "Person" (it has iot.v1.Command, iot.v1.Telemetry, iot.v1.Telemetry.Location)`},
		{"ambiguous", "tel", "", nil, ErrNotFound, "has 3 messages"},
		{"truncated", "p", "Person", person("Shawn", 1, "x")[:4], ErrDecode, "Person"},
		{"wrong wire type", "tel", "Telemetry", []byte{0x0a, 0xff}, ErrDecode, "Telemetry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Decode(tc.schema, tc.msg, tc.data)
			require.ErrorIs(t, err, tc.want)
			require.ErrorContains(t, err, tc.text)
		})
	}
}

func TestEncode_roundTrip(t *testing.T) {
	r := newReg(t, Schema{Name: "tel", Source: telemetryProto}, Schema{Name: "p", Source: personProto})
	b, err := r.Encode("p", "Person", map[string]any{"name": "Shawn", "id": float64(1), "email": "liuxy@emqx.io"})
	require.NoError(t, err)
	require.Equal(t, person("Shawn", 1, "liuxy@emqx.io"), b, "the same bytes as written by hand")

	in := map[string]any{
		"vin": "V1", "speed": int64(88), "battery": 0.5, "odometer": float64(1 << 40), "big": int64(7),
		"charging": true, "gear": "REVERSE", "raw": "\x01\x02", "temps": []any{int64(-1), float64(2)},
		"counters": map[string]any{"a": int64(1)}, "location": map[string]any{"lat": 1.5, "lon": nil},
		"alarm": int64(0),
	}
	b, err = r.Encode("tel", "Telemetry", in)
	require.NoError(t, err)
	got, err := r.Decode("tel", "Telemetry", b)
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"vin": "V1", "speed": 88.0, "battery": 0.5, "odometer": int64(1 << 40), "big": int64(7),
		"charging": true, "gear": "REVERSE", "raw": "\x01\x02", "temps": []any{int64(-1), int64(2)},
		"counters": map[string]any{"a": int64(1)}, "location": map[string]any{"lat": 1.5, "lon": 0.0},
		"alarm": int64(0),
	}, got, "an optional field set to 0 is kept")

	b, err = r.Encode("tel", "Command", map[string]any{"action": "unlock", "args": map[string]any{"2": "x", "1": "y"}})
	require.NoError(t, err)
	b2, err := r.Encode("tel", "Command", map[string]any{"args": map[string]any{"1": "y", "2": "x"}, "action": "unlock"})
	require.NoError(t, err)
	require.Equal(t, b, b2, "deterministic")
}

func TestEncode_errors(t *testing.T) {
	r := newReg(t, Schema{Name: "tel", Source: telemetryProto}, Schema{Name: "p", Source: personProto})
	tests := []struct {
		name, schema, msg string
		in                map[string]any
		text              string
	}{
		{"required missing", "p", "Person", map[string]any{"name": "x"}, "required field Person.id not set"},
		{"unknown field", "p", "Person", map[string]any{"name": "x", "id": 1, "age": 3}, `Person: message Person has no field "age"`},
		{"int32 range", "p", "Person", map[string]any{"name": "x", "id": int64(1) << 40}, "Person.id: 1099511627776 is out of range for a int32 field"},
		{"not whole", "p", "Person", map[string]any{"name": "x", "id": 1.5}, "Person.id: want an integer"},
		{"string for int", "p", "Person", map[string]any{"name": "x", "id": "1"}, "Person.id: want an integer for a int32 field, got a string"},
		{"bad enum", "tel", "Telemetry", map[string]any{"gear": "FLY"}, `Telemetry.gear: enum iot.v1.Gear has no value "FLY"`},
		{"not a list", "tel", "Telemetry", map[string]any{"temps": 1}, "Telemetry.temps: want an array, got a number"},
		{"bad element", "tel", "Telemetry", map[string]any{"temps": []any{1, "x"}}, "Telemetry.temps[1]: want an integer"},
		{"negative uint", "tel", "Telemetry", map[string]any{"big": -1}, "Telemetry.big: -1 is out of range"},
		{"bad map key", "tel", "Command", map[string]any{"args": map[string]any{"one": "x"}}, `Command.args: key "one" is not an integer`},
		{"nested", "tel", "Telemetry", map[string]any{"location": map[string]any{"lat": "n"}}, "Telemetry.location.lat: want a number"},
		{"message not object", "tel", "Telemetry", map[string]any{"location": []any{}}, "Telemetry.location: want an object, got an array"},
		{"bool", "tel", "Telemetry", map[string]any{"charging": 1}, "Telemetry.charging: want a bool"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Encode(tc.schema, tc.msg, tc.in)
			require.ErrorIs(t, err, ErrEncode)
			require.ErrorContains(t, err, tc.text)
			require.NotContains(t, err.Error(), "\u00a0", "plain spaces")
		})
	}
}

func TestCompile_errorsNamePosition(t *testing.T) {
	tests := []struct {
		name, src  string
		line, col  int
		msgContain string
	}{
		{"syntax", "message P {\n  string name = ;\n}", 2, 17, "syntax error"},
		{"unknown type", "syntax = \"proto3\";\nmessage P {\n  Foo f = 1;\n}", 3, 3, "unknown type Foo"},
		{"duplicate number", "syntax = \"proto3\";\nmessage P { int32 a = 1; int32 b = 1; }", 2, 36, "same tag 1"},
		{"missing import", "import \"other.proto\";\nmessage P {}", 1, 8, "other.proto"},
		{"unterminated", "message P {", 1, 12, "syntax error"},
		{"empty", "  \n", 0, 0, "source is empty"},
		{"no message", "syntax = \"proto3\";\nenum E { A = 0; }", 0, 0, "defines no message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := New(Options{}).AddConfig(Schema{Name: "s", Source: tc.src})
			require.ErrorIs(t, err, ErrInvalid)
			var ie *InvalidError
			require.ErrorAs(t, err, &ie)
			require.Equal(t, tc.line, ie.Line, err.Error())
			require.Equal(t, tc.col, ie.Column, err.Error())
			require.Contains(t, ie.Msg, tc.msgContain)
		})
	}
	err := New(Options{}).AddConfig(Schema{Name: "s", Source: "message P {\n  string name = ;\n}"})
	require.EqualError(t, err, `schema "s": line 2, column 17: syntax error: unexpected ';', expecting int literal`)
}

func TestCompile_standardImports(t *testing.T) {
	r := newReg(t, Schema{Name: "ts", Source: `syntax = "proto3";
import "google/protobuf/timestamp.proto";
message Reading { google.protobuf.Timestamp at = 1; double value = 2; }`})
	b, err := r.Encode("ts", "Reading", map[string]any{"at": map[string]any{"seconds": 1574744434}, "value": 1.5})
	require.NoError(t, err)
	got, err := r.Decode("ts", "Reading", b)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"at": map[string]any{"seconds": int64(1574744434), "nanos": int64(0)}, "value": 1.5}, got)
}

func TestRegistry_manage(t *testing.T) {
	dir := t.TempDir()
	r := New(Options{DataDir: dir})
	require.NoError(t, r.AddConfig(Schema{Name: "cfg", Source: personProto}))
	_, err := r.Create(Schema{Name: "cfg", Source: personProto})
	require.ErrorIs(t, err, ErrExists)
	_, err = r.Update(Schema{Name: "cfg", Source: personProto})
	require.ErrorIs(t, err, ErrReadOnly)
	require.ErrorIs(t, r.Delete("cfg"), ErrReadOnly)
	_, err = r.Create(Schema{Name: "bad name!", Source: personProto})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = r.Create(Schema{Name: "a", Type: "avro", Source: personProto})
	require.ErrorContains(t, err, `type "avro": want "protobuf"`)

	info, err := r.Create(Schema{Name: "tel", Source: telemetryProto, Description: "vehicles"})
	require.NoError(t, err)
	require.Equal(t, OriginAPI, info.Origin)
	require.Equal(t, TypeProtobuf, info.Type)
	require.Equal(t, []string{"iot.v1.Command", "iot.v1.Telemetry", "iot.v1.Telemetry.Location"}, info.Messages)
	_, err = r.Update(Schema{Name: "tel", Source: "message broken {"})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = r.Decode("tel", "Telemetry", nil)
	require.NoError(t, err, "a refused update leaves the old schema")
	_, err = r.Update(Schema{Name: "nope", Source: personProto})
	require.ErrorIs(t, err, ErrNotFound)
	_, err = r.Create(Schema{Name: "p2", Source: personProto})
	require.NoError(t, err)
	require.NoError(t, r.Delete("p2"))
	require.ErrorIs(t, r.Delete("p2"), ErrNotFound)

	names := func(in []Info) (out []string) {
		for _, i := range in {
			out = append(out, i.Origin+":"+i.Name)
		}
		return out
	}
	require.Equal(t, []string{"config:cfg", "api:tel"}, names(r.List()))

	data, err := os.ReadFile(filepath.Join(dir, StoreFile))
	require.NoError(t, err)
	require.Contains(t, string(data), `"name": "tel"`)
	require.NotContains(t, string(data), `"cfg"`, "configuration schemas are not stored")

	again := New(Options{DataDir: dir})
	require.NoError(t, again.AddConfig(Schema{Name: "cfg", Source: personProto}))
	skipped, err := again.Load()
	require.NoError(t, err)
	require.Empty(t, skipped)
	require.Equal(t, names(r.List()), names(again.List()), "API schemas survive a restart")
	got, err := again.Get("tel")
	require.NoError(t, err)
	require.Equal(t, "vehicles", got.Description)
	_, err = again.Get("nope")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestRegistry_loadSkipsClash(t *testing.T) {
	dir := t.TempDir()
	r := New(Options{DataDir: dir})
	_, err := r.Create(Schema{Name: "p", Source: personProto})
	require.NoError(t, err)
	again := New(Options{DataDir: dir})
	require.NoError(t, again.AddConfig(Schema{Name: "p", Source: telemetryProto}))
	skipped, err := again.Load()
	require.NoError(t, err)
	require.ErrorIs(t, skipped["p"], ErrExists)
	got, err := again.Get("p")
	require.NoError(t, err)
	require.Equal(t, OriginConfig, got.Origin, "the configuration file wins")
}

// jsonText renders decoded values for comparison (NaN-free: decoding
// turns NaN into a string).
func jsonText(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}
