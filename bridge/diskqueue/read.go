package diskqueue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// readChunk is how much Read reads from a segment at a time (a larger
// frame is read whole). Reading more than the batch needs would be read
// (and zeroed) again by the next Read.
const readChunk = 256 << 10

// Read returns up to maxRecs records (and about maxBytes of payload, at least
// one record) from the committed read position, and the position after
// them for Commit. It does not move the read position: reading again
// without a commit returns the same records. The payloads are fresh
// copies owned by the caller.
func (q *Queue) Read(maxRecs int, maxBytes int) ([][]byte, Position, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out, ends, err := q.readFrom(q.cur, maxRecs, maxBytes)
	if len(ends) == 0 {
		return out, q.cur, err
	}
	return out, ends[len(ends)-1], err
}

// ReadFrom is Read starting at from, a position returned by an earlier
// Read, ReadFrom or Append and not yet committed, so that a reader can
// read ahead of its commits; it returns the position after each record
// read. A position before the committed one (records dropped meanwhile by
// drop_oldest) reads from the committed one.
func (q *Queue) ReadFrom(from Position, maxRecs int, maxBytes int) ([][]byte, []Position, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if from.Seq < q.cur.Seq {
		from = q.cur
	}
	return q.readFrom(from, maxRecs, maxBytes)
}

// Start returns the committed read position.
func (q *Queue) Start() Position {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cur
}

func (q *Queue) readFrom(pos Position, maxRecs int, maxBytes int) ([][]byte, []Position, error) {
	if q.closed {
		return nil, nil, ErrClosed
	}
	if err := q.flush(); err != nil { // the records to read may be buffered
		return nil, nil, err
	}
	var (
		out  [][]byte
		ends []Position
	)
	size := 0
	for i := 0; i < len(q.segs) && len(out) < maxRecs && size < maxBytes; i++ {
		s := q.segs[i]
		if s.id < pos.Seg {
			continue
		}
		if s.id > pos.Seg {
			pos.Seg, pos.Off = s.id, 0
		}
		var err error
		out, ends, size, err = q.readSegment(s, &pos, out, ends, maxRecs, size, maxBytes)
		if err != nil {
			return nil, nil, err
		}
		if pos.Off < s.size {
			break // stopped inside this segment: a limit was reached
		}
	}
	return out, ends, nil
}

// readSegment appends the records of s from pos to out, and the position
// after each to ends, up to the limits.
func (q *Queue) readSegment(s segment, pos *Position, out [][]byte, ends []Position, maxRecs, size, maxBytes int) ([][]byte, []Position, int, error) {
	f, err := q.reader(s.id)
	if err != nil {
		return out, ends, size, err
	}
	for pos.Off < s.size && len(out) < maxRecs && size < maxBytes {
		n := min(s.size-pos.Off, int64(readChunk))
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, pos.Off); err != nil && !errors.Is(err, io.EOF) {
			return out, ends, size, fmt.Errorf("diskqueue: read: %w", err)
		}
		used := 0
		for used < len(buf) && len(out) < maxRecs && size < maxBytes {
			p, fn, err := decodeFrame(buf[used:])
			if errors.Is(err, errShort) && used > 0 {
				break // the rest of this frame is in the next chunk
			}
			if errors.Is(err, errShort) {
				l, err := frameLen(buf)
				if err != nil {
					return out, ends, size, fmt.Errorf("diskqueue: segment %d offset %d: %w", s.id, pos.Off, err)
				}
				buf = make([]byte, l)
				if _, err := f.ReadAt(buf, pos.Off); err != nil {
					return out, ends, size, fmt.Errorf("diskqueue: read: %w", err)
				}
				continue
			}
			if err != nil {
				return out, ends, size, fmt.Errorf("diskqueue: segment %d offset %d: %w", s.id, pos.Off+int64(used), err)
			}
			out = append(out, p)
			size += len(p)
			used += fn
			pos.Seq++
			ends = append(ends, Position{Seg: s.id, Off: pos.Off + int64(used), Seq: pos.Seq})
		}
		pos.Off += int64(used)
	}
	return out, ends, size, nil
}

// Commit moves the read position to p (from Read), deleting segments
// left behind. A position at or before the current one (records dropped
// meanwhile by drop_oldest) is ignored.
func (q *Queue) Commit(p Position) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if p.Seq <= q.cur.Seq {
		return nil
	}
	q.cur = p
	q.dropBefore(p.Seg)
	if len(q.segs) > 1 && q.cur.Off >= q.segs[0].size {
		q.advanceSegment()
	}
	return q.writeCursor()
}

// cursor file layout: segment (8), offset (8), CRC-32C of those (4).
const cursorSize = 20

// writeCursor stores the committed read position.
func (q *Queue) writeCursor() error {
	var b [cursorSize]byte
	binary.BigEndian.PutUint64(b[0:], q.cur.Seg)
	binary.BigEndian.PutUint64(b[8:], uint64(q.cur.Off))
	binary.BigEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	if _, err := q.cursorF.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("diskqueue: cursor: %w", err)
	}
	return q.synced(q.cursorF)
}

// readCursor reads the committed position; a missing or corrupt cursor
// means the start of the first segment (records may be read again).
func (q *Queue) readCursor() Position {
	var b [cursorSize]byte
	if _, err := q.cursorF.ReadAt(b[:], 0); err != nil {
		return Position{}
	}
	if crc32.Checksum(b[:16], castagnoli) != binary.BigEndian.Uint32(b[16:]) {
		return Position{}
	}
	return Position{Seg: binary.BigEndian.Uint64(b[0:]), Off: int64(binary.BigEndian.Uint64(b[8:]))}
}

// syncLoop syncs the tail and cursor every FsyncInterval when dirty.
func (q *Queue) syncLoop() {
	defer close(q.done)
	t := time.NewTicker(q.o.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
			q.syncDirty()
		}
	}
}

// syncDirty syncs the tail and the cursor when something was written
// since the last time, without holding q.mu during the fsyncs.
func (q *Queue) syncDirty() {
	err := q.flushSync(func() bool {
		dirty := q.dirty
		q.dirty = false // a write from now on is the next interval's
		return dirty
	}, true)
	if err != nil && !errors.Is(err, ErrClosed) {
		q.mu.Lock()
		q.dirty = true
		q.mu.Unlock()
	}
}

// Close syncs and closes the files; the queue can be opened again.
func (q *Queue) Close() error {
	first, err := q.closeLocked()
	if !first {
		return nil
	}
	// The sync loop may be waiting for syncMu: it is released first, the
	// loop finds the queue closed and ends.
	close(q.stop)
	<-q.done
	if err != nil {
		return fmt.Errorf("diskqueue: close: %w", err)
	}
	return nil
}

// closeLocked flushes, syncs and closes the files under the queue's
// locks; first is false when the queue was already closed.
func (q *Queue) closeLocked() (first bool, err error) {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, nil
	}
	err = q.flush()
	q.closed = true
	if q.o.Fsync != FsyncNever {
		err = errors.Join(err, q.w.Sync())
		_ = q.cursorF.Sync()
	}
	q.closeFiles()
	return true, err
}

func (q *Queue) closeFiles() {
	for _, f := range []*os.File{q.w, q.r, q.cursorF} {
		if f != nil {
			_ = f.Close()
		}
	}
}
