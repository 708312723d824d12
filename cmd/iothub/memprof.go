//go:build memprof

package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
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
// then writes the runtime's memory classes to file.mem and the count of
// such requests to file: the RSS read after that
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
				_ = os.WriteFile(path+".mem", memClasses(), 0o600)
				_ = os.WriteFile(path, []byte(strconv.Itoa(n)), 0o600)
			}
		}()
	}
}

// memClasses is the runtime's account of its memory (/memory/classes/...,
// bytes), one "name value" a line: where the RSS that is left goes (live
// objects, free space inside spans in use, stacks, runtime metadata).
func memClasses() []byte {
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") || d.Name == "/gc/heap/objects:objects" {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	var b []byte
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			b = fmt.Appendf(b, "%s %d\n", s.Name, s.Value.Uint64())
		}
	}
	return b
}
