package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/msg"
)

func TestFrame_roundTrip(t *testing.T) {
	now := time.Unix(1700000000, 123456789)
	tests := []struct {
		name string
		f    frame
	}{
		{"minimal", frame{node: "n1", seq: 1, m: &msg.Message{QoS: 0, Payload: []byte{}, ReceivedAt: now, Origin: msg.Origin{Kind: msg.OriginCluster, Name: "n1"}}}},
		{"full", frame{node: "node-2@host", inc: 99, seq: 1 << 40, retry: true, m: &msg.Message{
			QoS: 2, Retain: true, Payload: []byte(`{"action":"unlock"}`), ClientID: "lock-1", Username: "u", PeerHost: "10.0.0.1:5",
			Origin: msg.Origin{Kind: msg.OriginCluster, Name: "node-2@host"}, ContentType: "application/json", ResponseTopic: "r/1", CorrelationData: []byte{0, 1},
			PayloadFormat: 1, ReceivedAt: now, ExpiresAt: now.Add(time.Minute),
			UserProperties: []msg.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: ""}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := appendFrame(nil, &tc.f)
			got, err := decodeFrame(b, "a/b")
			require.NoError(t, err)
			tc.f.m.Topic = "a/b"
			require.Equal(t, tc.f.node, got.node)
			require.Equal(t, tc.f.seq, got.seq)
			require.Equal(t, tc.f.inc, got.inc)
			require.Equal(t, tc.f.retry, got.retry)
			require.True(t, tc.f.m.ReceivedAt.Equal(got.m.ReceivedAt))
			require.True(t, tc.f.m.ExpiresAt.Equal(got.m.ExpiresAt))
			want, have := *tc.f.m, *got.m
			want.ReceivedAt, have.ReceivedAt, want.ExpiresAt, have.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			require.Equal(t, want, have)
		})
	}
}

func TestFrame_refusesGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {1}, {2, 0, 0, 0}, {1, 0, 3, 0}, {1, 0, 0, 0, 0xff}, {1, 0, 0, 0, 1, 200}} {
		_, err := decodeFrame(b, "t")
		require.ErrorIs(t, err, ErrBadFrame, "%v", b)
	}
}

// FuzzFrame checks that decoding never panics and that whatever decodes
// encodes back to a frame that decodes the same.
func FuzzFrame(f *testing.F) {
	f.Add(appendFrame(nil, &frame{node: "n", seq: 7, m: &msg.Message{QoS: 1, Payload: []byte("x"), ReceivedAt: time.Unix(1, 0)}}))
	f.Add(appendFrame(nil, &frame{node: "n", seq: 7, m: &msg.Message{QoS: 2, Retain: true, ExpiresAt: time.Unix(9, 0),
		UserProperties: []msg.UserProperty{{Key: "a", Value: "b"}}, Payload: []byte("x"), ReceivedAt: time.Unix(1, 0)}}))
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b, "t")
		if err != nil {
			return
		}
		again, err := decodeFrame(appendFrame(nil, fr), "t")
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if again.seq != fr.seq || again.node != fr.node || string(again.m.Payload) != string(fr.m.Payload) || again.m.QoS != fr.m.QoS {
			t.Fatalf("round trip changed the frame: %+v vs %+v", again, fr)
		}
	})
}
