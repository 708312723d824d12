package shadow

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

var testLimits = Limits{}.withDefaults()

// run applies the update payloads in turn, failing on any rejection, and
// returns the shadow and the last outcome.
func run(t *testing.T, doc *Doc, now int64, payloads ...string) (*Doc, outcome) {
	t.Helper()
	var out outcome
	for _, p := range payloads {
		out = doUpdate(doc, []byte(p), testLimits, now)
		require.Nil(t, out.err, "update %s", p)
		doc = out.write
	}
	return doc, out
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func messageOf(out outcome, suffix string) []byte {
	for _, m := range out.messages {
		if m.suffix == suffix {
			return m.payload
		}
	}
	return nil
}

func TestUpdate_rejections(t *testing.T) {
	deep := `{"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}}}`
	tests := []struct {
		name, payload string
		code          int
		message       string
	}{
		{"not json", `{"state":`, 400, "Invalid JSON"},
		{"not an object", `[1]`, 400, "Invalid JSON"},
		{"trailing data", `{"state":{}} {}`, 400, "Invalid JSON"},
		{"no state", `{"clientToken":"a"}`, 400, "Missing required node: state"},
		{"state string", `{"state":"x"}`, 400, "State node must be an object"},
		{"desired array", `{"state":{"desired":[1]}}`, 400, "Desired node must be an object"},
		{"reported number", `{"state":{"reported":1}}`, 400, "Reported node must be an object"},
		{"delta node", `{"state":{"delta":{"a":1}}}`, 400, "State contains an invalid node"},
		{"bad version", `{"state":{},"version":-1}`, 400, "Invalid version"},
		{"version string", `{"state":{},"version":"3"}`, 400, "Invalid version"},
		{"long token", `{"state":{},"clientToken":"` + string(make65()) + `"}`, 400, "Invalid clientToken"},
		{"token number", `{"state":{},"clientToken":5}`, 400, "Invalid clientToken"},
		{"too deep", deep, 400, "JSON contains too many levels of nesting; maximum is 6"},
		{"null in array", `{"state":{"desired":{"c":[null,"RED"]}}}`, 400, "Invalid JSON"},
		{"not utf-8", "{\"state\":{\"desired\":{\"a\":\"\xff\"}}}", 415, "Unsupported documented encoding; supported encoding is UTF-8"},
		{"version conflict", `{"state":{"desired":{"a":1}},"version":9}`, 409, "Version conflict"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := doUpdate(nil, []byte(tc.payload), testLimits, 100)
			require.NotNil(t, out.err)
			require.Equal(t, tc.code, out.err.Code)
			require.Equal(t, tc.message, out.err.Message)
			require.Nil(t, out.write)
		})
	}
}

func make65() []byte {
	b := make([]byte, 65)
	for i := range b {
		b[i] = 'x'
	}
	return b
}

func TestUpdate_tooLarge(t *testing.T) {
	big := make([]byte, 8200)
	for i := range big {
		big[i] = 'a'
	}
	out := doUpdate(nil, []byte(`{"state":{"reported":{"blob":"`+string(big)+`"}}}`), testLimits, 1)
	require.Equal(t, 413, out.err.Code)
	// The limit applies to the merged state, not to one request.
	half := string(big[:4500])
	doc, _ := run(t, nil, 1, `{"state":{"reported":{"a":"`+half+`"}}}`)
	out = doUpdate(doc, []byte(`{"state":{"desired":{"b":"`+half+`"}}}`), testLimits, 2)
	require.Equal(t, 413, out.err.Code)
}

func TestUpdate_mergeNullMetadataVersion(t *testing.T) {
	doc, out := run(t, nil, 100,
		`{"state":{"reported":{"color":{"r":10,"g":5},"engine":"ON","list":[1,2]}}}`,
		`{"state":{"desired":{"color":{"r":255},"engine":"ON"}},"clientToken":"tok-2"}`,
	)
	require.Equal(t, uint64(2), doc.Version)
	acc := decode(t, out.accepted)
	require.Equal(t, "tok-2", acc["clientToken"])
	require.Equal(t, map[string]any{"desired": map[string]any{"color": map[string]any{"r": 255.0}, "engine": "ON"}}, acc["state"])
	require.Equal(t, map[string]any{"desired": map[string]any{"color": map[string]any{"r": map[string]any{"timestamp": 100.0}},
		"engine": map[string]any{"timestamp": 100.0}}}, acc["metadata"])

	// Delta: only the differing leaf, on the path from the root.
	dl := decode(t, messageOf(out, "update/delta"))
	require.Equal(t, map[string]any{"color": map[string]any{"r": 255.0}}, dl["state"])
	require.Equal(t, map[string]any{"color": map[string]any{"r": map[string]any{"timestamp": 100.0}}}, dl["metadata"])
	require.Equal(t, 2.0, dl["version"])
	require.Equal(t, "tok-2", dl["clientToken"])

	// null deletes a field and its metadata; the accepted document echoes it.
	doc, out = run(t, doc, 200, `{"state":{"reported":{"engine":null,"list":[3]}}}`)
	require.Equal(t, map[string]any{"reported": map[string]any{"engine": nil, "list": []any{3.0}}}, decode(t, out.accepted)["state"])
	g := decode(t, mustGet(t, doc))
	st := g["state"].(map[string]any)
	require.Equal(t, map[string]any{"color": map[string]any{"r": 10.0, "g": 5.0}, "list": []any{3.0}}, st["reported"])
	// engine left reported but is still desired: back in the delta.
	require.Equal(t, map[string]any{"color": map[string]any{"r": 255.0}, "engine": "ON"}, st["delta"])
	meta := g["metadata"].(map[string]any)["reported"].(map[string]any)
	require.NotContains(t, meta, "engine")
	require.Equal(t, []any{map[string]any{"timestamp": 200.0}}, meta["list"])
	require.Equal(t, 3.0, g["version"])

	// The previous and current documents.
	docs := decode(t, messageOf(out, "update/documents"))
	require.Equal(t, 2.0, docs["previous"].(map[string]any)["version"])
	require.Equal(t, 3.0, docs["current"].(map[string]any)["version"])

	// A matching version is accepted, "desired": null removes the section.
	doc, _ = run(t, doc, 300, `{"state":{"desired":null},"version":3}`)
	require.Nil(t, doc.Desired)
	require.Equal(t, uint64(4), doc.Version)
}

func mustGet(t *testing.T, doc *Doc) []byte {
	t.Helper()
	out := doGet(doc, "thing", "", nil, 1)
	require.Nil(t, out.err)
	return out.accepted
}

func TestUpdate_deltaPublication(t *testing.T) {
	doc, out := run(t, nil, 1, `{"state":{"desired":{"mode":"eco"}}}`)
	require.NotNil(t, messageOf(out, "update/delta"), "desired with no reported: delta")
	doc, out = run(t, doc, 2, `{"state":{"reported":{"battery":80}}}`)
	require.Nil(t, messageOf(out, "update/delta"), "an unrelated report publishes no delta")
	doc, out = run(t, doc, 3, `{"state":{"reported":{"mode":"off"}}}`)
	require.NotNil(t, messageOf(out, "update/delta"), "a report that leaves desired unmet: delta")
	_, out = run(t, doc, 4, `{"state":{"reported":{"mode":"eco"}}}`)
	require.Nil(t, messageOf(out, "update/delta"), "desired met: no delta")
	require.Equal(t, 1.0, decode(t, []byte(`{"n":1}`))["n"])
	require.True(t, numberEqual("1", "1.0"))
}

func TestGetDelete_tombstoneKeepsVersion(t *testing.T) {
	out := doGet(nil, "lock-1", "", []byte(`{"clientToken":"g"}`), 1)
	require.Equal(t, 404, out.err.Code)
	require.Equal(t, "No shadow exists with name: 'lock-1'", out.err.Message)
	require.Equal(t, "g", out.token)
	require.Equal(t, "No shadow exists with name: 'cfg'", doGet(nil, "lock-1", "cfg", nil, 1).err.Message)

	doc, _ := run(t, nil, 10, `{"state":{"reported":{"a":1}}}`, `{"state":{"reported":{"a":2}}}`)
	del := doDelete(doc, "lock-1", "", []byte(`{"clientToken":"d"}`), 20)
	require.Nil(t, del.err)
	require.Equal(t, map[string]any{"version": 2.0, "timestamp": 20.0, "clientToken": "d"}, decode(t, del.accepted))
	tomb := del.write
	require.False(t, tomb.Exists())
	require.Equal(t, 404, doGet(tomb, "lock-1", "", nil, 21).err.Code)
	require.Equal(t, 404, doDelete(tomb, "lock-1", "", nil, 21).err.Code)

	// Created again: the version goes on, unless the tombstone is old.
	again := doUpdate(tomb, []byte(`{"state":{"reported":{"a":3}}}`), testLimits, 30)
	require.Equal(t, uint64(3), again.write.Version)
	late := doUpdate(&Doc{Version: 2, Deleted: true, Timestamp: 20}, []byte(`{"state":{"reported":{"a":3}}}`), testLimits, 20+retainVersionFor+1)
	require.Equal(t, uint64(1), late.write.Version)
	require.Equal(t, uint64(2), late.prev, "the store still holds version 2")
}
