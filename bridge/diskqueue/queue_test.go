package diskqueue

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func recs(from, to int) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, fmt.Appendf(nil, "record-%05d", i))
	}
	return out
}

// readAll reads and commits everything, in batches of n.
func readAll(t *testing.T, q *Queue, n int) []string {
	t.Helper()
	var out []string
	for {
		b, pos, err := q.Read(n, 1<<20)
		require.NoError(t, err)
		if len(b) == 0 {
			return out
		}
		for _, p := range b {
			out = append(out, string(p))
		}
		require.NoError(t, q.Commit(pos))
	}
}

func strs(b [][]byte) []string {
	out := make([]string, len(b))
	for i, p := range b {
		out[i] = string(p)
	}
	return out
}

func TestQueue_orderAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, Options{SegmentBytes: 100, Fsync: FsyncAlways})
	require.NoError(t, err)
	for i := 0; i < 50; i += 5 {
		_, _, err := q.Append(nil, recs(i, i+5)...)
		require.NoError(t, err)
	}
	require.EqualValues(t, 50, q.Len())
	// Read and commit the first 7, then reopen: the rest survives.
	b, pos, err := q.Read(7, 1<<20)
	require.NoError(t, err)
	require.Equal(t, strs(recs(0, 7)), strs(b))
	require.NoError(t, q.Commit(pos))
	// Read without commit: read again after reopen.
	_, _, err = q.Read(3, 1<<20)
	require.NoError(t, err)
	require.NoError(t, q.Close())

	q, err = Open(dir, Options{SegmentBytes: 100})
	require.NoError(t, err)
	defer q.Close()
	require.EqualValues(t, 43, q.Len())
	require.Equal(t, strs(recs(7, 50)), readAll(t, q, 4))
	require.EqualValues(t, 0, q.Len())
	require.EqualValues(t, 0, q.Bytes())
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.LessOrEqual(t, len(ents), 2, "finished segments are deleted")
}

func TestQueue_tornTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, Options{})
	require.NoError(t, err)
	_, _, err = q.Append(nil, recs(0, 3)...)
	require.NoError(t, err)
	require.NoError(t, q.Close())
	seg := filepath.Join(dir, segName(firstSegment))
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(appendFrame(nil, []byte("torn-record"))[:10]) // a crash mid-write
	require.NoError(t, err)
	require.NoError(t, f.Close())

	q, err = Open(dir, Options{})
	require.NoError(t, err)
	defer q.Close()
	require.EqualValues(t, 3, q.Len())
	_, _, err = q.Append(nil, []byte("after"))
	require.NoError(t, err)
	require.Equal(t, append(strs(recs(0, 3)), "after"), readAll(t, q, 10))
}

// TestQueue_appendIsBufferedUntilFlush: appended records are readable at
// once, reach the file only with Flush (or a read), and the positions
// Append returns commit exactly up to each record.
func TestQueue_appendIsBufferedUntilFlush(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, Options{SegmentBytes: 100, Fsync: FsyncNever})
	require.NoError(t, err)
	seg := filepath.Join(dir, segName(firstSegment))
	ends, _, err := q.Append(nil, recs(0, 3)...)
	require.NoError(t, err)
	require.Len(t, ends, 3)
	st, err := os.Stat(seg)
	require.NoError(t, err)
	require.Zero(t, st.Size(), "not written before Flush")
	require.NoError(t, q.Flush(true))
	st, err = os.Stat(seg)
	require.NoError(t, err)
	require.Equal(t, ends[2].Off, st.Size())
	require.Equal(t, q.Tail(), ends[2])

	ends, _, err = q.Append(ends[:0], recs(3, 12)...) // crosses into new segments
	require.NoError(t, err)
	got, rends, err := q.ReadFrom(Position{Seg: firstSegment}, 100, 1<<20)
	require.NoError(t, err, "a read writes what is buffered first")
	require.Equal(t, strs(recs(0, 12)), strs(got))
	require.Equal(t, ends, rends[3:], "Append and ReadFrom agree on positions")
	require.NoError(t, q.Commit(ends[4])) // records 0..7 done
	_, _, err = q.Append(nil, []byte("buffered"))
	require.NoError(t, err)
	require.NoError(t, q.Close(), "Close writes what is buffered")

	q, err = Open(dir, Options{SegmentBytes: 100})
	require.NoError(t, err)
	defer q.Close()
	require.Equal(t, append(strs(recs(8, 12)), "buffered"), readAll(t, q, 3))
}

func TestQueue_full(t *testing.T) {
	rec := frameSize(len("record-00000"))
	tests := []struct {
		name    string
		policy  FullPolicy
		want    []string
		wantErr error
		dropped uint64
	}{
		{"drop_oldest", DropOldest, strs(recs(2, 12)), nil, 2},
		{"refuse", Refuse, strs(recs(0, 10)), ErrFull, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Open(t.TempDir(), Options{MaxBytes: 10 * rec, SegmentBytes: 3 * rec, FullPolicy: tc.policy})
			require.NoError(t, err)
			defer q.Close()
			_, _, err = q.Append(nil, recs(0, 10)...)
			require.NoError(t, err)
			_, _, err = q.Append(nil, recs(10, 12)...)
			require.ErrorIs(t, err, tc.wantErr)
			require.Equal(t, tc.dropped, q.Dropped())
			require.LessOrEqual(t, q.Bytes(), 10*rec)
			require.Equal(t, tc.want, readAll(t, q, 4))
		})
	}
}

func TestQueue_commitOfDroppedPositionIsIgnored(t *testing.T) {
	rec := frameSize(len("record-00000"))
	q, err := Open(t.TempDir(), Options{MaxBytes: 4 * rec})
	require.NoError(t, err)
	defer q.Close()
	_, _, err = q.Append(nil, recs(0, 4)...)
	require.NoError(t, err)
	_, pos, err := q.Read(2, 1<<20)
	require.NoError(t, err)
	_, _, err = q.Append(nil, recs(4, 7)...) // drops 0..2
	require.NoError(t, err)
	require.NoError(t, q.Commit(pos))
	require.Equal(t, strs(recs(3, 7)), readAll(t, q, 10))
}

// TestQueue_appendDuringFsync holds a Flush inside its fsync and checks
// that appends go on meanwhile, also across a new segment (the tail being
// synced is closed by the roll), that the Flush still succeeds, and that
// every record is there, in order, after a reopen.
func TestQueue_appendDuringFsync(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, Options{SegmentBytes: 256, Fsync: FsyncNever})
	require.NoError(t, err)
	q.o.Fsync = FsyncAlways // Flush syncs; Open started no interval loop
	inSync, release := make(chan struct{}), make(chan struct{})
	q.fsync = func(f *os.File) error {
		close(inSync)
		<-release
		return f.Sync()
	}
	_, _, err = q.Append(nil, recs(0, 5)...)
	require.NoError(t, err)
	flushed := make(chan error, 1)
	go func() { flushed <- q.Flush(true) }()
	<-inSync
	appended := make(chan error, 1)
	go func() {
		var err error
		for i := 5; i < 50 && err == nil; i++ { // 45 records of 21 bytes: several new segments
			_, _, err = q.Append(nil, recs(i, i+1)...)
		}
		appended <- err
	}()
	select {
	case err := <-appended:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("appends waited for the fsync of an earlier Flush")
	}
	close(release)
	require.NoError(t, <-flushed)
	q.fsync = (*os.File).Sync
	require.NoError(t, q.Flush(true))
	require.NoError(t, q.Close())
	q, err = Open(dir, Options{SegmentBytes: 256})
	require.NoError(t, err)
	defer func() { require.NoError(t, q.Close()) }()
	require.Equal(t, strs(recs(0, 50)), readAll(t, q, 7))
}

// TestQueue_closeWhileTheSyncLoopTicks: Close never waits for a sync loop
// that waits for Close's lock (it hung a bridge's shutdown once). The
// loop ticks every 50µs, so many closes meet it mid-tick.
func TestQueue_closeWhileTheSyncLoopTicks(t *testing.T) {
	dir := t.TempDir()
	for i := range 300 {
		q, err := Open(dir, Options{FsyncInterval: 50 * time.Microsecond})
		require.NoError(t, err)
		_, _, err = q.Append(nil, []byte("x"))
		require.NoError(t, err)
		closed := make(chan error, 1)
		go func() { closed <- q.Close() }()
		select {
		case err := <-closed:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("close %d hung", i)
		}
	}
}
