package upstream

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParse feeds the centre's parsers of what edges send and of its own
// marks file: a sequence property, a marks line, a command request and a
// command reply. None may panic; a mark written is read back.
func FuzzParse(f *testing.F) {
	f.Add("aa:1")
	f.Add(`"e1\x00aa" 17`)
	f.Add(`{"client_id":"lock1","topic":"devices/lock1/command","payload":"dW5sb2Nr","qos":1,"wait":"acked","timeout_ms":5000}`)
	f.Add(`{"edge":"edge1","status":"acked","delivered_at":"2026-01-01T00:00:00Z"}`)
	f.Add(":")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if epoch, n, ok := parseSeq(s); ok {
			require.Positive(t, n)
			require.NotEmpty(t, epoch)
			key, seq, ok := parseMarkLine(string(appendMark(nil, epoch, n))[:len(appendMark(nil, epoch, n))-1])
			require.True(t, ok)
			require.Equal(t, epoch, key)
			require.Equal(t, n, seq)
		}
		_, _, _ = parseMarkLine(s)
		var req CommandRequest
		_ = json.Unmarshal([]byte(s), &req)
		var rep CommandReply
		_ = json.Unmarshal([]byte(s), &rep)
	})
}
