package diskqueue

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FullPolicy says what an append does when the queue is full.
type FullPolicy string

// Full policies.
const (
	// DropOldest drops the oldest records to make room (counted).
	DropOldest FullPolicy = "drop_oldest"
	// Refuse fails the append with ErrFull.
	Refuse FullPolicy = "refuse"
)

// FsyncPolicy says when written data is flushed to the disk.
type FsyncPolicy string

// Fsync policies.
const (
	// FsyncAlways syncs after every append and commit.
	FsyncAlways FsyncPolicy = "always"
	// FsyncInterval syncs every Options.FsyncInterval when something was
	// written.
	FsyncInterval FsyncPolicy = "interval"
	// FsyncNever leaves it to the operating system.
	FsyncNever FsyncPolicy = "never"
)

// Errors.
var (
	// ErrFull is returned by Append under the refuse policy when the
	// records do not fit in MaxBytes.
	ErrFull = errors.New("diskqueue: queue full")
	// ErrTooLarge is returned for a record larger than MaxRecord or MaxBytes.
	ErrTooLarge = errors.New("diskqueue: record too large")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("diskqueue: closed")
)

// Options configure a Queue; zero values take the defaults.
type Options struct {
	// MaxBytes bounds the unread bytes on disk (default 1 GiB).
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file starts
	// (default 16 MiB).
	SegmentBytes int64
	// FullPolicy is DropOldest (default) or Refuse.
	FullPolicy FullPolicy
	// Fsync is FsyncInterval (default), FsyncAlways or FsyncNever.
	Fsync FsyncPolicy
	// FsyncInterval is the period of FsyncInterval (default 1s).
	FsyncInterval time.Duration
}

func (o *Options) defaults() {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 30
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 16 << 20
	}
	if o.FullPolicy == "" {
		o.FullPolicy = DropOldest
	}
	if o.Fsync == "" {
		o.Fsync = FsyncInterval
	}
	if o.FsyncInterval <= 0 {
		o.FsyncInterval = time.Second
	}
}

// Position is a read position: a segment, an offset in it, and the
// sequence number of the record there.
type Position struct {
	Seg uint64
	Off int64
	Seq int64
}

// segment is one segment file.
type segment struct {
	id   uint64
	size int64
}

// firstSegment is the number of the first segment of a new queue; room
// below it is for Prepend.
const firstSegment = 1 << 32

// Queue is a durable FIFO of byte strings in one directory.
type Queue struct {
	// syncMu serialises the fsyncs of the tail (Flush, the interval
	// policy's loop) and Close; taken before mu. The fsync itself runs
	// with mu released, so appends go on while the disk flushes (they
	// belong to the next Flush).
	syncMu  sync.Mutex
	mu      sync.Mutex
	dir     string
	o       Options
	segs    []segment // ascending; the last is the tail being appended to
	w       *os.File  // the tail segment
	r       *os.File  // a read handle on rID
	rID     uint64
	cursorF *os.File
	cur     Position // committed read position
	tailSeq int64    // sequence number of the next appended record
	pend    []byte   // frames appended to the tail segment and not yet written (Flush)
	dirty   bool     // segments or cursor written since the last fsync of the interval policy
	wgen    uint64   // writes to the tail segment so far (flush)
	sgen    uint64   // the wgen the last fsync of the tail covered: records are unsynced while they differ
	closed  bool
	dropped uint64
	stop    chan struct{}
	done    chan struct{}
	fsync   func(*os.File) error // (*os.File).Sync; the tests hold it to look inside a Flush
}

func segName(id uint64) string { return fmt.Sprintf("%020d.seg", id) }

// Open opens (creating it when needed) the queue in dir and recovers its
// state: see the package documentation.
func Open(dir string, o Options) (*Queue, error) {
	o.defaults()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("diskqueue: %w", err)
	}
	q := &Queue{dir: dir, o: o, stop: make(chan struct{}), done: make(chan struct{}), fsync: (*os.File).Sync}
	if err := q.recover(); err != nil {
		q.closeFiles()
		return nil, err
	}
	if o.Fsync == FsyncInterval {
		go q.syncLoop()
	} else {
		close(q.done)
	}
	return q, nil
}

// recover lists the segments, reads the cursor, deletes what it passed and
// scans the rest.
func (q *Queue) recover() error {
	ents, err := os.ReadDir(q.dir)
	if err != nil {
		return fmt.Errorf("diskqueue: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if id, err := strconv.ParseUint(name, 10, 64); ok && err == nil && !e.IsDir() {
			q.segs = append(q.segs, segment{id: id})
		}
	}
	slices.SortFunc(q.segs, func(a, b segment) int { return cmp.Compare(a.id, b.id) })
	q.cursorF, err = os.OpenFile(filepath.Join(q.dir, "cursor"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("diskqueue: %w", err)
	}
	q.cur = q.readCursor()
	q.dropBefore(q.cur.Seg)
	if len(q.segs) == 0 || q.segs[0].id != q.cur.Seg {
		q.cur = Position{}
		if len(q.segs) > 0 {
			q.cur.Seg = q.segs[0].id
		}
	}
	if err := q.scan(); err != nil {
		return err
	}
	if len(q.segs) == 0 {
		q.segs = []segment{{id: firstSegment}}
		q.cur = Position{Seg: firstSegment}
	}
	tail := q.segs[len(q.segs)-1]
	q.w, err = os.OpenFile(filepath.Join(q.dir, segName(tail.id)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("diskqueue: %w", err)
	}
	return q.writeCursor()
}

// scan validates every segment from the cursor, counting records into
// tailSeq and truncating at the first bad frame.
func (q *Queue) scan() error {
	for i := range q.segs {
		s := &q.segs[i]
		path := filepath.Join(q.dir, segName(s.id))
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("diskqueue: %w", err)
		}
		off := 0
		if s.id == q.cur.Seg {
			off = int(min(q.cur.Off, int64(len(b))))
			q.cur.Off = int64(off)
		}
		for off < len(b) {
			_, n, err := decodeFrame(b[off:])
			if err != nil {
				break
			}
			off += n
			q.tailSeq++
		}
		if off < len(b) {
			if err := os.Truncate(path, int64(off)); err != nil {
				return fmt.Errorf("diskqueue: truncating a torn segment: %w", err)
			}
		}
		s.size = int64(off)
	}
	return nil
}

// dropBefore deletes the segments numbered below id.
func (q *Queue) dropBefore(id uint64) {
	for len(q.segs) > 0 && q.segs[0].id < id {
		if q.rID == q.segs[0].id && q.r != nil {
			_ = q.r.Close()
			q.r = nil
		}
		_ = os.Remove(filepath.Join(q.dir, segName(q.segs[0].id)))
		q.segs = q.segs[1:]
	}
}

// Len returns the number of unread records.
func (q *Queue) Len() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.tailSeq - q.cur.Seq
}

// Bytes returns the unread bytes on disk (frames included).
func (q *Queue) Bytes() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes()
}

func (q *Queue) bytes() int64 {
	var n int64
	for _, s := range q.segs {
		n += s.size
	}
	return n - q.cur.Off
}

// Dropped returns how many records drop_oldest has dropped.
func (q *Queue) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// Append adds recs at the tail and appends the position after each of
// them to ends (what Commit takes to drop it and everything before). The
// records are buffered: Flush writes what was appended, in one write; a
// read that reaches them writes them first. It returns how many old
// records the drop_oldest policy dropped to make room.
func (q *Queue) Append(ends []Position, recs ...[]byte) ([]Position, int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ends, 0, ErrClosed
	}
	dropped, err := q.append(recs)
	if err != nil {
		return ends, dropped, err
	}
	tail := q.segs[len(q.segs)-1]
	off, seq := tail.size, q.tailSeq
	for _, r := range recs {
		off += frameSize(len(r))
		seq++
		ends = append(ends, Position{Seg: tail.id, Off: off, Seq: seq})
	}
	for _, r := range recs {
		q.pend = appendFrame(q.pend, r)
	}
	q.segs[len(q.segs)-1].size = off
	q.tailSeq = seq
	if len(q.pend) >= maxPending {
		return ends, dropped, q.flush()
	}
	return ends, dropped, nil
}

// maxPending bounds the appended bytes Append keeps before it writes them
// itself.
const maxPending = 4 << 20

// append checks the limits of an append of recs and makes room for it
// (drop_oldest, a new segment); q.mu is held.
func (q *Queue) append(recs [][]byte) (dropped int, err error) {
	var need int64
	for _, r := range recs {
		if len(r) > MaxRecord || frameSize(len(r)) > q.o.MaxBytes {
			return 0, ErrTooLarge
		}
		need += frameSize(len(r))
	}
	if need > q.o.MaxBytes {
		return 0, ErrFull
	}
	if q.bytes()+need > q.o.MaxBytes {
		if q.o.FullPolicy == Refuse {
			return 0, ErrFull
		}
		if dropped, err = q.dropOldest(q.bytes() + need - q.o.MaxBytes); err != nil {
			return dropped, err
		}
	}
	tail := q.segs[len(q.segs)-1]
	if tail.size > 0 && tail.size+need > q.o.SegmentBytes {
		if err := q.roll(); err != nil {
			return dropped, err
		}
	}
	return dropped, nil
}

// Flush writes the appended records in one write, and when sync is true
// (or the policy is always) flushes them to the disk with fsync, unless
// nothing was written since the last fsync. The fsync runs without
// holding the queue's lock: appends made meanwhile are not covered (they
// wait for the next Flush). After a failed write the records stay
// buffered for the next Flush.
func (q *Queue) Flush(sync bool) error {
	// Only the records need the disk: a cursor behind by a few commits
	// sends records again after a crash, it loses none (the interval
	// policy syncs it).
	return q.flushSync(func() bool {
		return (sync || q.o.Fsync == FsyncAlways) && q.o.Fsync != FsyncNever && q.wgen != q.sgen
	}, false)
}

// flushSync writes what is buffered and, when want (called with q.mu
// held) says so, fsyncs the tail, and with cursor the cursor file, after
// releasing q.mu.
func (q *Queue) flushSync(want func() bool, cursor bool) error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	err := q.flush()
	need := err == nil && want()
	f, gen := q.w, q.wgen
	q.mu.Unlock()
	if !need {
		return err
	}
	err = q.syncTail(f, gen)
	if cursor {
		err = errors.Join(err, q.cursorF.Sync())
	}
	return err
}

// syncTail fsyncs f, the tail segment when its writes numbered gen were
// made, with q.mu not held and q.syncMu held, and records what it
// covered. A tail that was rolled meanwhile was synced by roll before it
// was closed (roll fails otherwise), so it needs nothing more.
func (q *Queue) syncTail(f *os.File, gen uint64) error {
	err := q.fsync(f)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.w != f {
		return nil
	}
	if err != nil {
		return fmt.Errorf("diskqueue: fsync: %w", err)
	}
	q.sgen = max(q.sgen, gen)
	return nil
}

// flush writes the buffered frames to the tail segment; q.mu is held. A
// partial write is truncated away, so the file stays well formed.
func (q *Queue) flush() error {
	if len(q.pend) == 0 {
		return nil
	}
	tail := q.segs[len(q.segs)-1]
	written := tail.size - int64(len(q.pend))
	n, err := q.w.Write(q.pend)
	if err != nil {
		if terr := q.w.Truncate(written); terr != nil {
			return fmt.Errorf("diskqueue: write: %w (and truncate: %w)", err, terr)
		}
		return fmt.Errorf("diskqueue: write: %w", err)
	}
	_ = n
	q.pend = q.pend[:0]
	if cap(q.pend) > 2*maxPending {
		q.pend = nil
	}
	q.dirty = true
	q.wgen++
	return nil
}

// Tail returns the position after the last appended record.
func (q *Queue) Tail() Position {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.segs[len(q.segs)-1]
	return Position{Seg: t.id, Off: t.size, Seq: q.tailSeq}
}

// synced syncs f under the always policy and marks the queue dirty for
// the interval policy.
func (q *Queue) synced(f *os.File) error {
	switch q.o.Fsync {
	case FsyncAlways:
		if err := f.Sync(); err != nil {
			return fmt.Errorf("diskqueue: fsync: %w", err)
		}
	case FsyncInterval:
		q.dirty = true
	}
	return nil
}

// roll closes the tail segment (writing what is buffered, and syncing it
// unless the policy is never: a Flush that took the old tail before the
// roll relies on it) and starts the next.
func (q *Queue) roll() error {
	if err := q.flush(); err != nil {
		return err
	}
	if q.o.Fsync != FsyncNever {
		if err := q.w.Sync(); err != nil {
			return fmt.Errorf("diskqueue: fsync before a new segment: %w", err)
		}
	}
	id := q.segs[len(q.segs)-1].id + 1
	f, err := os.OpenFile(filepath.Join(q.dir, segName(id)), os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("diskqueue: new segment: %w", err)
	}
	_ = q.w.Close()
	q.w = f
	q.sgen = q.wgen
	q.segs = append(q.segs, segment{id: id})
	return nil
}

// dropOldest advances the read position by whole records until at least
// need bytes are freed (or the queue is empty).
func (q *Queue) dropOldest(need int64) (int, error) {
	if err := q.flush(); err != nil { // the frames to skip may be buffered
		return 0, err
	}
	dropped := 0
	var h [frameHeader]byte
	for need > 0 && q.tailSeq > q.cur.Seq {
		s := q.segs[0]
		if q.cur.Off >= s.size {
			if len(q.segs) < 2 {
				break
			}
			q.advanceSegment()
			continue
		}
		f, err := q.reader(s.id)
		if err != nil {
			return dropped, err
		}
		if _, err := f.ReadAt(h[:], q.cur.Off); err != nil {
			return dropped, fmt.Errorf("diskqueue: drop: %w", err)
		}
		n, err := frameLen(h[:])
		if err != nil {
			return dropped, fmt.Errorf("diskqueue: drop: %w", err)
		}
		q.cur.Off += n
		q.cur.Seq++
		need -= n
		dropped++
	}
	if len(q.segs) > 1 && q.cur.Off >= q.segs[0].size {
		q.advanceSegment()
	}
	q.dropped += uint64(dropped)
	return dropped, q.writeCursor()
}

// advanceSegment moves the read position to the start of the next
// segment, deleting the finished one (never the tail).
func (q *Queue) advanceSegment() {
	if len(q.segs) < 2 {
		return
	}
	q.cur.Seg, q.cur.Off = q.segs[1].id, 0
	q.dropBefore(q.cur.Seg)
}

// reader returns a read handle on segment id.
func (q *Queue) reader(id uint64) (*os.File, error) {
	if q.r != nil && q.rID == id {
		return q.r, nil
	}
	if q.r != nil {
		_ = q.r.Close()
		q.r = nil
	}
	f, err := os.Open(filepath.Join(q.dir, segName(id)))
	if err != nil {
		return nil, fmt.Errorf("diskqueue: %w", err)
	}
	q.r, q.rID = f, id
	return f, nil
}
