package jobs

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDeviceRequest sends any payload to each device operation of a
// thing with a queued and an in-progress execution: nothing panics, each
// request gets exactly one answer, on its /accepted or /rejected topic, a
// JSON document, and a rejection carries one of AWS's error codes.
func FuzzDeviceRequest(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{`, `[]`, `null`, `{"clientToken":"t1"}`,
		`{"status":"IN_PROGRESS","statusDetails":{"step":"download"},"expectedVersion":1,"includeJobExecutionState":true}`,
		`{"status":"SUCCEEDED","includeJobDocument":true,"stepTimeoutInMinutes":5}`,
		`{"status":"FAILED","statusDetails":{"progress":50}}`,
		`{"status":"CANCELED","executionNumber":-1,"expectedVersion":9e99}`,
		`{"stepTimeoutInMinutes":-3,"statusDetails":{"step":"1"},"clientToken":"` + strings.Repeat("x", 70) + `"}`,
	} {
		for op := range uint8(5) {
			f.Add(op, []byte(s))
		}
	}
	codes := map[string]bool{codeInvalidTopic: true, codeInvalidJSON: true, codeInvalidRequest: true, codeInvalidTransition: true,
		codeNotFound: true, codeVersionMismatch: true, codeInternal: true, codeThrottled: true}
	f.Fuzz(func(t *testing.T, op uint8, payload []byte) {
		s, rec, _ := newService(t)
		_, err := s.Create(CreateRequest{ID: "a", Document: json.RawMessage(`{"operation":"x"}`), Targets: []string{"lock-1"}})
		require.NoError(t, err)
		_, err = s.Create(CreateRequest{ID: "b", Document: json.RawMessage(`{"operation":"y"}`), Targets: []string{"lock-1"}})
		require.NoError(t, err)
		device(s, "lock-1", "b/update", `{"status":"IN_PROGRESS"}`)
		rest := []string{"get", "start-next", "$next/get", "a/get", "b/update", "a/update", "a/b/c"}[int(op)%7]
		rec.take("$aws/things/lock-1/jobs/b/update/accepted")
		device(s, "lock-1", rest, string(payload))
		acc := rec.take("$aws/things/lock-1/jobs/" + rest + "/accepted")
		rej := rec.take("$aws/things/lock-1/jobs/" + rest + "/rejected")
		require.Equal(t, 1, len(acc)+len(rej), "one answer to %s %q", rest, payload)
		for _, r := range rej {
			require.True(t, codes[r["code"].(string)], "code %v", r["code"])
		}
	})
}
