package diskqueue

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDiskQueueRecord feeds arbitrary bytes to the frame decoder and, as
// a segment file, to Open's recovery scan and Read: neither may panic,
// and whatever Open accepts must read back as well-formed frames.
func FuzzDiskQueueRecord(f *testing.F) {
	f.Add(appendFrame(nil, []byte("hello")))
	f.Add(appendFrame(appendFrame(nil, []byte("a")), []byte{}))
	f.Add([]byte{0, 0, 0, 5, 1, 2, 3, 4, 'x'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for off := 0; off < len(b); {
			_, n, err := decodeFrame(b[off:])
			if err != nil {
				break
			}
			off += n
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(firstSegment)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		q, err := Open(dir, Options{Fsync: FsyncNever})
		if err != nil {
			return
		}
		defer q.Close()
		n := q.Len()
		var got int64
		for {
			recs, pos, err := q.Read(7, 1<<20)
			if err != nil {
				t.Fatalf("read after a clean open: %v", err)
			}
			if len(recs) == 0 {
				break
			}
			got += int64(len(recs))
			if err := q.Commit(pos); err != nil {
				t.Fatal(err)
			}
		}
		if got != n {
			t.Fatalf("Len %d but read %d", n, got)
		}
	})
}
