// Package schema is iothub's schema registry: named Protocol Buffers
// schemas (.proto source text) that rules use to decode binary payloads
// into maps and to encode maps into binary payloads
// (schema_decode/schema_encode in rule SQL; docs/rules.md, "Schemas").
//
// # Layout
//
//   - compile.go: a .proto source is parsed and linked at run time with
//     github.com/bufbuild/protocompile (the standard imports such as
//     google/protobuf/timestamp.proto are known; other imports are not);
//     a mistake is an *InvalidError naming the line and column.
//   - codec.go: decoding a payload into JSON-shaped Go values and encoding
//     them back, through google.golang.org/protobuf's dynamicpb.
//   - registry.go, store.go: the Registry, which holds the compiled
//     schemas of the configuration file (read-only) and of the HTTP API
//     (kept in <data_dir>/schemas.json through storage/statefile).
//
// # Lifecycle
//
// New → AddConfig (the schemas of the configuration file) → Load (the
// schemas of schemas.json) → Decode/Encode from the rule engine, and
// Create/Update/Delete/Get/List from the API.
//
// # Concurrency
//
// All methods are safe for concurrent use. Decode and Encode read an
// immutable snapshot of the compiled schemas behind an atomic pointer and
// never wait for a writer; management calls are serialised by one mutex.
package schema
