//go:build memtest

package broker_test

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/iothub-dev/iothub/bench"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// TestIdleMemory reports the Go heap and stack held per idle connection
// once all are parked (5,000 connections; client and server share the
// process, so the figures include the client side's sockets and readers). It measures, asserts nothing,
// and runs only with -tags memtest:
//
//	go test -tags memtest -run TestIdleMemory -v ./internal/broker/
//
// With IOTHUB_HEAP_PROFILE=file it also writes a heap profile.
func TestIdleMemory(t *testing.T) {
	const n = 5000
	if os.Getenv("IOTHUB_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation, for an exact profile
	}
	s, addr := testutil.StartBroker(t, nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = bench.RunConn(ctx, bench.ConnOptions{Addr: addr, Count: n, Hold: time.Hour, KeepAlive: 300 * time.Second})
	}()
	testutil.Eventually(t, time.Minute, func() bool { return s.Stats().ParkedConnections == n }, "connections up and parked")
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("per idle connection: heap %d B, stack %d B, goroutines %d (the client side's included)",
		(after.HeapInuse-before.HeapInuse)/n, (after.StackInuse-before.StackInuse)/n, runtime.NumGoroutine())
	if path := os.Getenv("IOTHUB_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			_ = f.Close()
		}
	}
	cancel()
	<-done
}
