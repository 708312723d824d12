package redis_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/redis"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// BenchmarkSend_hset: batches of 500 door-lock states, HSET + PEXPIRE in
// one pipeline, to a local redis-server.
func BenchmarkSend_hset(b *testing.B) {
	srv := testutil.StartRedis(b)
	s, err := redis.New(redis.Options{Addresses: []string{srv.Addr}, Command: redis.HSet, TTL: 3600e9})
	require.NoError(b, err)
	defer s.Close()
	recs := make([]bridge.Record, 500)
	for i := range recs {
		recs[i] = bridge.Record{Topic: "device:" + strconv.Itoa(i), Value: []byte(lockState)}
	}
	b.ResetTimer()
	for range b.N {
		require.NoError(b, s.Send(context.Background(), recs))
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
