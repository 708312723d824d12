package kafka_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/kafka"
)

// TestProducer_recover: the identities of the newest records of every
// partition are read back — of the topics asked for and of the
// producer's own topic — and a topic that does not exist holds none.
func TestProducer_recover(t *testing.T) {
	addr := cluster(t, "own", "other")
	p := newProducer(t, addr, kafka.ProducerOptions{Topic: "own"})
	var recs []bridge.Record
	for i := range 40 {
		topic := "own"
		if i%4 == 0 {
			topic = "other"
		}
		recs = append(recs, bridge.Record{Topic: topic, Key: []byte(strconv.Itoa(i % 7)), Value: []byte("v"),
			Headers: []bridge.Header{{Key: bridge.IDHeader, Value: []byte("id-" + strconv.Itoa(i))}}})
	}
	recs = append(recs, bridge.Record{Topic: "own", Value: []byte("no identity")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Send(ctx, recs))

	var own, both []string
	for i := range 40 {
		id := "id-" + strconv.Itoa(i)
		both = append(both, id)
		if i%4 != 0 {
			own = append(own, id)
		}
	}
	tests := []struct {
		name   string
		topics []string
		newest int
		want   []string
	}{
		{name: "own topic", newest: 100, want: own},
		{name: "and others", topics: []string{"other", "missing"}, newest: 100, want: both},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := p.Recover(ctx, tc.topics, tc.newest)
			require.NoError(t, err)
			got := make([]string, 0, len(ids))
			for id := range ids {
				got = append(got, id)
			}
			require.ElementsMatch(t, tc.want, got)
		})
	}
	t.Run("newest only", func(t *testing.T) {
		ids, err := p.Recover(ctx, nil, 1)
		require.NoError(t, err)
		require.Len(t, ids, 1, "two partitions, one ending with the record without identity: %v", ids)
	})
}
