//go:build memprof

package main

import (
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
)

// With -tags memprof and MEMPROF_OUT=file, every allocation is
// sampled and SIGUSR1 writes a heap profile to file (after a GC): how the
// idle-memory figures of docs/benchmarks.md were broken down. (Not an
// IOTHUB_ variable: those name configuration keys.)
func init() {
	path := os.Getenv("MEMPROF_OUT")
	if path == "" {
		return
	}
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
