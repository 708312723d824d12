package storetest

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/storage"
)

// Opener opens a store in dir.
type Opener func(dir string) (storage.Store, error)

// Run checks the storage.Store contract on stores made by open.
func Run(t *testing.T, open Opener) {
	t.Run("put_get_delete", func(t *testing.T) {
		s := mustOpen(t, open, t.TempDir())
		var b storage.Batch
		b.Put([]byte("a/1"), []byte("one"))
		b.Put([]byte("a/2"), []byte("two"))
		b.Put([]byte("b/1"), []byte("other"))
		require.NoError(t, s.Apply(&b, true))
		v, err := s.Get([]byte("a/2"))
		require.NoError(t, err)
		require.Equal(t, "two", string(v))
		var d storage.Batch
		d.Delete([]byte("a/2"))
		require.NoError(t, s.Apply(&d, false))
		_, err = s.Get([]byte("a/2"))
		require.ErrorIs(t, err, storage.ErrNotFound)
	})
	t.Run("scan_prefix_in_order", func(t *testing.T) {
		s := mustOpen(t, open, t.TempDir())
		var b storage.Batch
		for _, k := range []string{"q/c/3", "q/c/1", "q/b/9", "q/c/2", "q/d/0", "r/x"} {
			b.Put([]byte(k), []byte(k))
		}
		require.NoError(t, s.Apply(&b, true))
		var got []string
		require.NoError(t, s.Scan([]byte("q/c/"), func(k, v []byte) error {
			require.Equal(t, string(k), string(v))
			got = append(got, string(k))
			return nil
		}))
		require.Equal(t, []string{"q/c/1", "q/c/2", "q/c/3"}, got)
		stop := errors.New("stop")
		require.ErrorIs(t, s.Scan([]byte("q/"), func(_, _ []byte) error { return stop }), stop)
	})
	t.Run("range_and_delete_range", func(t *testing.T) {
		s := mustOpen(t, open, t.TempDir())
		var b storage.Batch
		for i := range 200 { // more than one memstore chunk
			k := fmt.Sprintf("q/a\x00%03d", i)
			b.Put([]byte(k), []byte(k))
		}
		b.Put([]byte("q/b\x00000"), []byte("q/b\x00000"))
		require.NoError(t, s.Apply(&b, true))
		collect := func(start, end string) []string {
			var got []string
			var e []byte
			if end != "" {
				e = []byte(end)
			}
			require.NoError(t, s.Range([]byte(start), e, func(k, v []byte) error {
				require.Equal(t, string(k), string(v))
				got = append(got, string(k))
				return nil
			}))
			return got
		}
		got := collect("q/a\x00150", "q/a\x01")
		require.Len(t, got, 50)
		require.Equal(t, "q/a\x00150", got[0])
		require.Equal(t, "q/a\x00199", got[49])
		require.Len(t, collect("q/a\x00150", ""), 51, "no end: up to the last key")
		var d storage.Batch
		d.DeleteRange([]byte("q/a\x00"), storage.PrefixEnd([]byte("q/a\x00")))
		d.Put([]byte("q/a\x00007"), []byte("q/a\x00007")) // after the range delete: kept
		require.NoError(t, s.Apply(&d, true))
		require.Equal(t, []string{"q/a\x00007", "q/b\x00000"}, collect("q/", ""))
		stop := errors.New("stop")
		require.ErrorIs(t, s.Range([]byte("q/"), nil, func(_, _ []byte) error { return stop }), stop)
	})
	t.Run("survives_reopen", func(t *testing.T) {
		dir := t.TempDir()
		s, err := open(dir)
		require.NoError(t, err)
		var b storage.Batch
		b.Put([]byte("k"), []byte("v"))
		require.NoError(t, s.Apply(&b, true))
		require.NoError(t, s.Close())
		s2 := mustOpen(t, open, dir)
		v, err := s2.Get([]byte("k"))
		require.NoError(t, err)
		require.Equal(t, "v", string(v))
	})
}

func mustOpen(t *testing.T, open Opener, dir string) storage.Store {
	t.Helper()
	s, err := open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkPersist measures QoS 1 messages persisted per second: each op
// stores one ~300-byte queue record for an offline subscriber with a synced
// batch, from `writers` concurrent goroutines (publishers), so concurrent
// syncs can be grouped by the engine.
func BenchmarkPersist(b *testing.B, open Opener, writers int, sync bool) {
	s, err := open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	value := make([]byte, 300)
	var seq atomic.Uint64
	b.SetParallelism(max(1, writers/ncpu()))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var batch storage.Batch
		for pb.Next() {
			n := seq.Add(1)
			batch.Reset()
			batch.Put([]byte(fmt.Sprintf("q/lock-%d/%016x", n%1000, n)), value)
			if err := s.Apply(&batch, sync); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
