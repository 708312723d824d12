//go:build memprof

package main

import (
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"syscall"
)

// With -tags memprof and MEMPROF_OUT=file, every allocation is
// sampled and SIGUSR1 writes a heap profile to file (after a GC): how the
// idle-memory figures of docs/benchmarks.md were broken down. (Not an
// IOTHUB_ variable: those name configuration keys.)
//
// With MEMPROF_FREE=file (sampling unchanged), SIGUSR2 collects the
// garbage twice (pooled buffers, sync.Pool, survive one collection),
// returns the free memory to the system (debug.FreeOSMemory) and
// then writes the count of such requests to file: the RSS read after that
// is what the hub retains, without the garbage of a burst that the
// collector has not returned yet (scripts/bench-cluster-conn.sh, RETAINED=1).
func init() {
	if path := os.Getenv("MEMPROF_OUT"); path != "" {
		runtime.MemProfileRate = 1
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGUSR1)
		go func() {
			for range ch {
				runtime.GC() // twice: a heap profile is as of the last GC but one
				runtime.GC()
				if f, err := os.Create(path); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					_ = f.Close()
				}
			}
		}()
	}
	if path := os.Getenv("MEMPROF_FREE"); path != "" {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGUSR2)
		go func() {
			for n := 1; ; n++ {
				<-ch
				runtime.GC() // first: sync.Pool contents survive one collection
				debug.FreeOSMemory()
				_ = os.WriteFile(path, []byte(strconv.Itoa(n)), 0o600)
			}
		}()
	}
}
