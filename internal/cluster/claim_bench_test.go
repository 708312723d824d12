package cluster

import (
	"context"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkClaim measures CONNECT claims (the registry write a CONNECT
// waits for) on n2 of a three-node in-process cluster, 64 at a time
// (CLAIM_CONCURRENCY), as claims per second:
//   - new: client ids without an entry (first connections);
//   - again: client ids whose clean session ended (entry deleted) before.
//
// CLAIM_PROFILE=file writes a CPU profile of the claims alone.
//
//	go test -run '^$' -bench Claim -benchtime 5000x ./internal/cluster/
func BenchmarkClaim(b *testing.B) {
	n := startBenchCluster(b)
	record := []byte(`{"session":{"proto":4,"expiry":0,"username":""},"owner":"","takeover":true}`)
	conc := 64
	if v, err := strconv.Atoi(os.Getenv("CLAIM_CONCURRENCY")); err == nil && v > 0 {
		conc = v
	}
	var round atomic.Int64
	claimAll := func(b *testing.B, prefix string, count int, release bool) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > int64(count) {
						return
					}
					id := prefix + strconv.FormatInt(i, 10)
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					_, _, done, err := n.Claim(ctx, id, record)
					cancel()
					if err != nil {
						b.Error(err)
						return
					}
					done()
					if release {
						n.Release(id)
					}
				}
			}()
		}
		wg.Wait()
	}
	measure := func(b *testing.B, prefix string) {
		if path := os.Getenv("CLAIM_PROFILE"); path != "" {
			f, err := os.Create(path + "." + strings.ReplaceAll(b.Name(), "/", "-"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
		b.ResetTimer()
		start := time.Now()
		claimAll(b, prefix, b.N, false)
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "claims/s")
	}
	for _, order := range []struct {
		name   string
		create bool
	}{{"create-first", true}, {"read-first", false}, {"create-first", true}, {"read-first", false}} {
		b.Run(order.name+"/new", func(b *testing.B) {
			createFirst = order.create
			defer func() { createFirst = true }()
			measure(b, "new-"+strconv.FormatInt(round.Add(1), 10)+"-")
		})
		b.Run(order.name+"/again", func(b *testing.B) {
			prefix := "again-" + strconv.FormatInt(round.Add(1), 10) + "-"
			claimAll(b, prefix, b.N, true)
			// The releases delete the entries asynchronously.
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				keys, err := n.registryKeys(context.Background())
				if err == nil && !hasPrefixKey(keys, prefix) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			createFirst = order.create
			defer func() { createFirst = true }()
			measure(b, prefix)
		})
	}
}

func hasPrefixKey(keys []string, prefix string) bool {
	for _, k := range keys {
		if id, ok := clientOfKey(k); ok && len(id) >= len(prefix) && id[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

// startBenchCluster starts three nodes (no brokers) and returns the second
// once every node's replicated state is ready.
func startBenchCluster(b *testing.B) *Node {
	b.Helper()
	addrs := make([]string, 3)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		_ = ln.Close()
	}
	nodes := make([]*Node, 3)
	for i := range nodes {
		n, err := Start(Options{Name: "n" + strconv.Itoa(i+1), Address: addrs[i], Seeds: addrs, ClusterName: "bench", Replicas: 3,
			Dir: b.TempDir(), ForwardTimeout: time.Second, NodeTimeout: 3 * time.Second, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(n.Close)
		nodes[i] = n
	}
	for _, n := range nodes {
		select {
		case <-n.st.ready:
		case <-time.After(90 * time.Second):
			b.Fatal("replicated state not ready")
		}
	}
	return nodes[1]
}
