package rule

import (
	"errors"
	"unsafe"
)

// schema_decode(name, data[, message]) and schema_encode(name, map[,
// message]) decode a binary payload with a registered Protocol Buffers
// schema into an object, and encode an object into a binary payload
// (EMQX's schema registry functions; the registry is EngineOptions.Schemas,
// docs/rules.md "Schemas").

var errNoSchemas = errors.New("no schema registry")

func init() {
	s := register("schema_decode", 2, 3, schemaDecode)
	s.doc = "schema_decode(name, data[, message]) — decode a binary payload with the registered protobuf schema name: schema_decode('person', payload, 'Person').name"
	s = register("schema_encode", 2, 3, schemaEncode)
	s.doc = "schema_encode(name, object[, message]) — the binary form of an object under the registered protobuf schema name: schema_encode('cmd', json_decode(payload), 'Command')"
}

// schemaArgs returns the schema name and message name of a call.
func schemaArgs(e *env, a []Value) (Schemas, string, string, error) {
	if e.opts == nil || e.opts.Schemas == nil {
		return nil, "", "", errNoSchemas
	}
	name, err := text(a, 0)
	if err != nil {
		return nil, "", "", err
	}
	message := ""
	if len(a) == 3 {
		if message, err = text(a, 2); err != nil {
			return nil, "", "", err
		}
	}
	return e.opts.Schemas, name, message, nil
}

func schemaDecode(e *env, a []Value) (Value, error) {
	reg, name, message, err := schemaArgs(e, a)
	if err != nil {
		return Null, err
	}
	data, ok := a[1].AsString()
	if !ok {
		return Null, argErr(1, a[1], "a binary string")
	}
	// The registry copies what it keeps: a read-only view of the payload.
	m, err := reg.Decode(name, message, unsafe.Slice(unsafe.StringData(data), len(data))) //nolint:gosec // read-only view; Decode does not write or retain its input
	if err != nil {
		return Null, err
	}
	return Object(m), nil
}

func schemaEncode(e *env, a []Value) (Value, error) {
	reg, name, message, err := schemaArgs(e, a)
	if err != nil {
		return Null, err
	}
	v := a[1]
	if v.k == KindString {
		v = decodeJSON(v.s)
	}
	m, ok := v.AsObject()
	if !ok {
		return Null, argErr(1, a[1], "an object")
	}
	b, err := reg.Encode(name, message, m)
	if err != nil {
		return Null, err
	}
	return String(string(b)), nil
}
