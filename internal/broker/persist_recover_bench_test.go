package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/iothub-dev/iothub/storage"
	"github.com/iothub-dev/iothub/storage/pebblestore"
)

// BenchmarkRecover measures start-up (New on an existing store) with
// IOTHUB_BENCH_RECOVER_MSGS stored QoS 1 messages (default 100,000) spread
// over 1,000 offline persistent sessions, 200-byte payloads, and the live
// heap the recovered state holds (MiB-heap-held). The report:
//
//	IOTHUB_BENCH_RECOVER_MSGS=1000000 go test -run '^$' -bench Recover -benchtime 1x ./internal/broker/
func BenchmarkRecover(b *testing.B) {
	total := 100_000
	if v, err := strconv.Atoi(os.Getenv("IOTHUB_BENCH_RECOVER_MSGS")); err == nil && v > 0 {
		total = v
	}
	dir := b.TempDir()
	fillStore(b, dir, total, 1000)
	b.ResetTimer()
	for range b.N {
		st, err := pebblestore.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		opts := Defaults()
		opts.SysInterval = 0
		opts.Logger = slog.New(slog.DiscardHandler)
		opts.MaxQueuedMessages = total
		opts.Store = st
		heap0 := liveHeap()
		start := time.Now()
		s, err := New(opts)
		if err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		rep := s.Recovery()
		if rep.Queued != total {
			b.Fatalf("recovered %d messages, want %d", rep.Queued, total)
		}
		b.ReportMetric(elapsed.Seconds(), "s/startup")
		b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(float64(liveHeap()-heap0)/(1<<20), "MiB-heap-held")
		b.StopTimer()
		_ = s.Shutdown(context.Background())
		_ = st.Close()
		b.StartTimer()
	}
}

// liveHeap returns the bytes of live heap objects (after a collection).
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc) //nolint:gosec // a heap size
}

// fillStore writes n queue records for sessions offline persistent sessions.
func fillStore(b *testing.B, dir string, n, sessions int) {
	st, err := pebblestore.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	var batch storage.Batch
	for i := range sessions {
		rec, _ := json.Marshal(sessionRecord{Proto: 5, Expiry: neverExpire, ConnectedAt: now.Add(-time.Hour), DisconnectedAt: now,
			Subs: []subRecord{{Filter: fmt.Sprintf("devices/lock-%d/command", i), QoS: 1}}})
		batch.Put(sessionKey(fmt.Sprintf("lock-%d", i)), rec)
	}
	m := testMessage()
	m.Payload = make([]byte, 200)
	m.ExpiresAt = time.Time{}
	for i := range n {
		m.Payload[0], m.Payload[1], m.Payload[2] = byte(i), byte(i>>8), byte(i>>16)
		v, err := encodeQueued(&delivery{m: m, qos: 1}, 0, false)
		if err != nil {
			b.Fatal(err)
		}
		batch.Put(queueKey(fmt.Sprintf("lock-%d", i%sessions), uint64(i+1)), v)
		if batch.Len() >= 10_000 {
			if err := st.Apply(&batch, false); err != nil {
				b.Fatal(err)
			}
			batch = storage.Batch{}
		}
	}
	if err := st.Apply(&batch, true); err != nil {
		b.Fatal(err)
	}
}
