package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCommand_acked sends unlock commands through the HTTP API to
// connected paho devices with wait=acked, over keep-alive connections,
// from 16 concurrent callers, and reports commands per second and the
// latency percentiles (request sent → acked answer read).
//
//	go test -run '^$' -bench BenchmarkCommand_acked -benchtime 5000x ./internal/api/
func BenchmarkCommand_acked(b *testing.B) {
	const devices, callers = 50, 16
	e := newEnv(b, nil)
	for i := range devices {
		d := connectDevice(b, e.mqtt, fmt.Sprintf("lock-%03d", i), false, false)
		go func() {
			for range d.msgs { // paho acknowledges on return
			}
		}()
	}
	body := []byte(`{"payload":{"process_id":"7802441525528958","action":"unlock","nonce_str":"u7u4p0n8","ts":1574744434,"sign":"e9f5af7deaa28563"},"wait":"acked","timeout":"10s"}`)
	tr := &http.Transport{MaxIdleConnsPerHost: callers}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		failures  atomic.Int64
	)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			local := make([]time.Duration, 0, b.N/callers+1)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				url := fmt.Sprintf("%s/api/v1/devices/lock-%03d/commands", e.srv.URL, i%devices)
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+e.key)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				local = append(local, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d commands were not acked", f, b.N)
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cmds/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
