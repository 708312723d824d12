//go:build memtest

package broker_test

import (
	"fmt"
	"os"
	"runtime/pprof"
	"runtime"
	"testing"
	"time"

	"github.com/iothub-dev/iothub/bench"
	"github.com/iothub-dev/iothub/internal/testutil"
	"context"
)

func TestMemPerConn(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	var before, after runtime.MemStats
	runtime.GC(); runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { bench.RunConn(ctx, bench.ConnOptions{Addr: addr, Count: 5000, Hold: time.Hour}); close(done) }()
	time.Sleep(8 * time.Second)
	runtime.GC(); runtime.GC()
	runtime.ReadMemStats(&after)
	n := 5000.0 * 2 // client side conns live in the same process too
	_ = n
	fmt.Printf("heapinuse %.0f B/conn stackinuse %.0f B/conn sys %.0f goroutines %d\n",
		float64(after.HeapInuse-before.HeapInuse)/5000, float64(after.StackInuse-before.StackInuse)/5000, float64(after.Sys-before.Sys)/5000, runtime.NumGoroutine())
	f, _ := os.Create("/tmp/memtest/heap.prof")
	pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
	cancel(); <-done
}
