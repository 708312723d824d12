//go:build cpuprof

package main

import (
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
)

// With -tags cpuprof and CPUPROF_OUT=file, the first SIGUSR2 starts a CPU
// profile and the second writes it to file, with the mutex and block
// profiles of the same span next to it (file.mutex, file.block): how the
// per-message CPU of docs/benchmarks.md was broken down. (Not an IOTHUB_
// variable: those name configuration keys.)
func init() {
	path := os.Getenv("CPUPROF_OUT")
	if path == "" {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR2)
	go func() {
		for range ch {
			f, err := os.Create(path)
			if err != nil {
				continue
			}
			runtime.SetMutexProfileFraction(100)
			runtime.SetBlockProfileRate(100000)
			if pprof.StartCPUProfile(f) != nil {
				_ = f.Close()
				continue
			}
			<-ch
			pprof.StopCPUProfile()
			_ = f.Close()
			for _, name := range []string{"mutex", "block"} {
				if g, err := os.Create(path + "." + name); err == nil {
					_ = pprof.Lookup(name).WriteTo(g, 0)
					_ = g.Close()
				}
			}
			runtime.SetMutexProfileFraction(0)
			runtime.SetBlockProfileRate(0)
		}
	}()
}
