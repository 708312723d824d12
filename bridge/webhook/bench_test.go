package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/webhook"
)

// BenchmarkSend: batches of 500 signed records of 50 devices, pool of 8,
// to a local httptest server.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	s, err := webhook.New(webhook.Options{Secret: secret, PoolSize: 8})
	require.NoError(b, err)
	defer s.Close()
	recs := make([]bridge.Record, 500)
	for i := range recs {
		recs[i] = rec(srv.URL+"/locks", "lock-"+strconv.Itoa(i%50), i)
	}
	b.ResetTimer()
	for range b.N {
		require.NoError(b, s.Send(context.Background(), recs))
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
