package bridge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge/diskqueue"
)

// holdingSink is a fakeSink that says, when asked after a crash, that it
// holds the identities in held.
type holdingSink struct {
	*fakeSink
	held    map[string]struct{}
	topics  []string
	asked   atomic.Int32
	refuses bool
}

func (s *holdingSink) Recover(_ context.Context, topics []string, newest int) (map[string]struct{}, error) {
	s.asked.Add(1)
	s.topics = topics
	if s.refuses {
		return nil, Permanent(os.ErrPermission)
	}
	if newest <= 0 {
		return nil, os.ErrInvalid
	}
	return s.held, nil
}

// idRecord is record i with identity idOf(i).
func idRecord(i int) Record {
	return Record{Topic: "t", Value: []byte(strconv.Itoa(i)), Headers: []Header{{Key: IDHeader, Value: []byte(idOf(i))}}}
}

// idOf is identity number i (32 hexadecimal digits).
func idOf(i int) string { return fmt.Sprintf("%032x", i) }

// TestRunner_dedupAfterCrash: records 0-3 are queued and synced while the
// sink is down, then the hub "crashes" (the queue stays as it was, the
// running marker too). The next run asks the sink what it holds (0 and 1,
// sent before the crash), sends only 2 and 3, and does not queue the
// copies of 1 and 3 that the centre routes again; 4 is new. A record
// without an identity is never dropped.
func TestRunner_dedupAfterCrash(t *testing.T) {
	tests := []struct {
		name    string
		clean   bool // stopped cleanly, records left queued (some may have been in flight)
		refuses bool
		want    []string
		dedups  uint64
	}{
		{name: "sink tells what it holds", want: []string{"2", "3", "4", "plain", "plain"}, dedups: 4},
		{name: "clean stop with records queued", clean: true, want: []string{"2", "3", "4", "plain", "plain"}, dedups: 4},
		{name: "sink cannot tell: at least once", refuses: true, want: []string{"0", "1", "2", "3", "4", "plain", "plain"}, dedups: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s1 := &holdingSink{fakeSink: newFakeSink()}
			s1.down = true
			r1, err := NewRunner(s1, testOptions(dir))
			require.NoError(t, err)
			require.True(t, r1.Deduplicates())
			for i := range 4 {
				require.NoError(t, r1.Enqueue(idRecord(i)))
			}
			require.NoError(t, r1.Enqueue(idRecord(2)), "a copy queued in the same run")
			require.EqualValues(t, 1, r1.Metrics().Deduplicated)
			require.NoError(t, r1.Sync(true))
			require.NoError(t, r1.Close(context.Background()))
			if !tc.clean {
				require.NoError(t, os.WriteFile(filepath.Join(dir, uncleanFile), nil, 0o600), "as a kill -9 leaves it")
			}

			s2 := &holdingSink{fakeSink: newFakeSink(), held: map[string]struct{}{idOf(0): {}, idOf(1): {}}, refuses: tc.refuses}
			r2, err := NewRunner(s2, testOptions(dir))
			require.NoError(t, err)
			plain := Record{Topic: "t", Value: []byte("plain")}
			require.NoError(t, r2.Enqueue(idRecord(1), idRecord(3), idRecord(4), plain, plain))
			r2.Start()
			got := s2.waitFor(t, len(tc.want))
			require.NoError(t, r2.Close(context.Background()))
			require.Equal(t, tc.want, got)
			require.Equal(t, int32(1), s2.asked.Load())
			require.Equal(t, []string{"t"}, s2.topics)
			m := r2.Metrics()
			require.Equal(t, tc.dedups, m.Deduplicated)

			s3 := &holdingSink{fakeSink: newFakeSink()}
			r3, err := NewRunner(s3, testOptions(dir))
			require.NoError(t, err)
			r3.Start()
			require.NoError(t, r3.Enqueue(idRecord(5)))
			require.Equal(t, []string{"5"}, s3.waitFor(t, 1))
			require.NoError(t, r3.Close(context.Background()))
			require.Zero(t, s3.asked.Load(), "a clean stop with nothing queued needs no recovery")
		})
	}
}

// TestRunner_noDedupWithoutRecoverer: a sink that cannot tell what it
// holds gets every record, identities or not.
func TestRunner_noDedupWithoutRecoverer(t *testing.T) {
	sink := newFakeSink()
	r, err := NewRunner(sink, testOptions(t.TempDir()))
	require.NoError(t, err)
	require.False(t, r.Deduplicates())
	r.Start()
	defer r.Close(context.Background())
	require.NoError(t, r.Enqueue(idRecord(1), idRecord(1)))
	require.Equal(t, []string{"1", "1"}, sink.waitFor(t, 2))
}

// TestRunner_refusedRecordIsNotRemembered: a record the full queue
// refused is not taken for queued, so its resend is queued once there is
// room.
func TestRunner_refusedRecordIsNotRemembered(t *testing.T) {
	o := testOptions(t.TempDir())
	o.Disk = diskqueue.Options{MaxBytes: 200, FullPolicy: diskqueue.Refuse}
	sink := &holdingSink{fakeSink: newFakeSink()}
	r, err := NewRunner(sink, o)
	require.NoError(t, err)
	big := idRecord(1)
	big.Value = make([]byte, 300)
	require.Error(t, r.Enqueue(big))
	r.Start()
	defer r.Close(context.Background())
	require.NoError(t, r.Enqueue(idRecord(1)))
	require.Equal(t, []string{"1"}, sink.waitFor(t, 1))
	require.Zero(t, r.Metrics().Deduplicated)
}

// BenchmarkRunner_enqueue: the cost of an identity on the enqueue path
// (a Recoverer sink: the identity is looked up and remembered).
func BenchmarkRunner_enqueue(b *testing.B) {
	for _, withID := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "identity"}[withID], func(b *testing.B) {
			o := testOptions(b.TempDir())
			o.RequestSync = func() {}
			o.MemoryRecords = 1000
			r, err := NewRunner(&holdingSink{fakeSink: newFakeSink()}, o)
			require.NoError(b, err)
			defer r.Close(context.Background())
			rec := Record{Topic: "fleet", Key: []byte("fleet/dev-01/data"), Value: make([]byte, 64)}
			ids := make([][]Header, 1<<17) // more than the set keeps: every add evicts
			for i := range ids {
				ids[i] = []Header{{Key: IDHeader, Value: []byte(idOf(i))}}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if withID {
					rec.Headers = ids[i%len(ids)]
				}
				if err := r.Enqueue(rec); err != nil {
					b.Fatal(err)
				}
				if i%1000 == 999 {
					require.NoError(b, r.Sync(false))
					r.mu.Lock()
					r.memBytes -= int64(r.mem.discard(r.mem.len()))
					r.mu.Unlock()
				}
			}
		})
	}
}

// TestParseID: only 32 hexadecimal digits are an identity.
func TestParseID(t *testing.T) {
	tests := []struct {
		v  string
		ok bool
	}{
		{idOf(7), true},
		{"00112233445566778899AABBCCDDEEFF", true},
		{"", false},
		{"id-1", false},
		{idOf(7) + "0", false},
		{"0011223344556677889900aabbccddgg", false},
	}
	for _, tc := range tests {
		_, ok := parseID([]byte(tc.v))
		require.Equal(t, tc.ok, ok, tc.v)
	}
}
