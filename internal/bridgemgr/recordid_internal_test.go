package bridgemgr

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/internal/upstream"
	"github.com/iothub-dev/iothub/msg"
)

// TestRecordID: a record of a message an edge forwarded has an identity
// that a copy routed again shares and any other record does not.
func TestRecordID(t *testing.T) {
	require.Equal(t, upstream.PropSeq, edgeSeqProperty)
	out := func(client, seq, ruleID string) *rule.Output {
		m := &msg.Message{ClientID: client, Topic: "fleet/a"}
		if seq != "" {
			m.UserProperties = []msg.UserProperty{{Key: "iothub-origin", Value: "edge-a"}, {Key: upstream.PropSeq, Value: seq}}
		}
		return &rule.Output{RuleID: ruleID, Event: &msg.Event{Kind: msg.EventMessagePublished, Message: m}}
	}
	rec := func(v string) *bridge.Record { return &bridge.Record{Topic: "t", Key: []byte("k"), Value: []byte(v)} }
	base := string(recordID(out("edge-a", "e1:7", "r1"), rec("v")))
	require.Len(t, base, 32)
	tests := []struct {
		name string
		out  *rule.Output
		rec  *bridge.Record
		same bool
	}{
		{name: "a copy routed again", out: out("edge-a", "e1:7", "r1"), rec: rec("v"), same: true},
		{name: "next number", out: out("edge-a", "e1:8", "r1"), rec: rec("v")},
		{name: "other rule", out: out("edge-a", "e1:7", "r2"), rec: rec("v")},
		{name: "other output of the message", out: out("edge-a", "e1:7", "r1"), rec: rec("w")},
		{name: "same properties from another client", out: out("device-x", "e1:7", "r1"), rec: rec("v")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.same, string(recordID(tc.out, tc.rec)) == base)
		})
	}
	require.Nil(t, recordID(out("edge-a", "", "r1"), rec("v")), "not forwarded by an edge")
	require.Nil(t, recordID(&rule.Output{}, rec("v")), "no event")
}

// BenchmarkRecordID: the identity of one record of an edge's message.
func BenchmarkRecordID(b *testing.B) {
	m := &msg.Message{ClientID: "iothub-edge-edge-a", Topic: "fleet/dev-01/data",
		UserProperties: []msg.UserProperty{{Key: "iothub-origin", Value: "edge-a"}, {Key: upstream.PropSeq, Value: "9e70c9a5ff1400ac:123456"}}}
	out := &rule.Output{RuleID: "fleet_to_kafka", Event: &msg.Event{Kind: msg.EventMessagePublished, Message: m}}
	rec := &bridge.Record{Topic: "edge-fleet", Key: []byte("fleet/dev-01/data"), Value: make([]byte, 64)}
	b.ReportAllocs()
	for range b.N {
		_ = recordID(out, rec)
	}
}
