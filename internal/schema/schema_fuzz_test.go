package schema

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzSchemaCompile registers arbitrary .proto text, as a user may send
// it through the API: it compiles, or fails with an *InvalidError (with a
// line and column inside the source when it has a position); it never
// panics. A schema that compiles decodes an empty payload for each of its
// messages.
func FuzzSchemaCompile(f *testing.F) {
	for _, s := range []string{personProto, telemetryProto, "message P {\n  string name = ;\n}",
		`syntax = "proto3"; import "google/protobuf/any.proto"; message A { google.protobuf.Any x = 1; oneof o { int32 a = 2; string b = 3; } }`,
		`syntax = "proto2"; message G { optional group Grp = 1 { optional int32 x = 2; } extensions 100 to 200; } extend G { optional int32 e = 100; }`,
		`edition = "2023"; message E { int32 a = 1 [features.field_presence = IMPLICIT]; }`,
		`syntax = "proto3"; message R { R next = 1; map<string, R> m = 2; }`, "option java_package = \"x\";\nmessage M {}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		r := New(Options{})
		info, err := r.Create(Schema{Name: "fuzz", Source: src})
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			var ie *InvalidError
			require.True(t, errors.As(err, &ie), "%v", err)
			require.GreaterOrEqual(t, ie.Line, 0)
			require.NotEmpty(t, ie.Msg)
			return
		}
		for _, m := range info.Messages {
			got, err := r.Decode("fuzz", m, nil)
			require.NoError(t, err, m)
			_, err = r.Encode("fuzz", m, got)
			if err != nil {
				require.ErrorIs(t, err, ErrEncode)
			}
		}
	})
}

// FuzzSchemaDecode decodes arbitrary payloads with the telemetry schema:
// bad input is an ErrDecode; what decodes encodes back to a payload that
// decodes to the same values.
func FuzzSchemaDecode(f *testing.F) {
	r := New(Options{})
	require.NoError(f, r.AddConfig(Schema{Name: "tel", Source: telemetryProto}))
	require.NoError(f, r.AddConfig(Schema{Name: "p", Source: personProto}))
	f.Add([]byte{}, false)
	f.Add(person("Shawn", 1, "liuxy@emqx.io"), true)
	f.Add([]byte{0x0a, 0x02, 'V', '1', 0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f, 0x38, 0x05, 0x4a, 0x02, 0x05, 0x28}, false)
	f.Add([]byte{0x5a, 0x09, 0x09, 1, 2, 3, 4, 5, 6, 7, 8}, false)
	f.Fuzz(func(t *testing.T, data []byte, isPerson bool) {
		name, msg := "tel", "Telemetry"
		if isPerson {
			name, msg = "p", "Person"
		}
		got, err := r.Decode(name, msg, data)
		if err != nil {
			require.ErrorIs(t, err, ErrDecode)
			return
		}
		b, err := r.Encode(name, msg, got)
		if err != nil {
			require.ErrorIs(t, err, ErrEncode) // e.g. a uint64 above 2^63 came back as a float, or a required field was missing
			return
		}
		again, err := r.Decode(name, msg, b)
		require.NoError(t, err)
		require.Equal(t, jsonText(t, got), jsonText(t, again))
	})
}
