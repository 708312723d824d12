package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/bridge/diskqueue"
)

// Where a batch came from.
const (
	fromMemory = iota // the memory queue or the retry list: put back on failure
	fromDisk          // the disk queue: stays there until committed
)

// batch is what the sender works on.
type batch struct {
	recs []Record
	src  int
	read int                // records read from disk (some may have been undecodable)
	pos  diskqueue.Position // the disk position after the batch
}

// flight is a batch sent and not yet settled.
type flight struct {
	b        batch
	start    time.Time
	done     chan struct{} // closed once err is set
	err      error
	timedOut atomic.Bool
	timer    *time.Timer
}

// sender is the state of the sender goroutine (Runner.run).
type sender struct {
	r       *Runner
	pl      Pipeline // nil: none open, or the sink does not pipeline
	win     []*flight
	readPos diskqueue.Position // disk read position, ahead of the commits
	attempt int
}

// run is the sender goroutine: it keeps up to MaxInflightBatches batches
// in flight (one when the sink is not a Pipeliner), settles them in
// order, and on a failure aborts the pipeline, puts every unsettled
// batch back at the head of the queue and retries after a backoff.
func (r *Runner) run() {
	defer r.wg.Done()
	s := &sender{r: r}
	for {
		if len(s.win) == 0 {
			s.readPos = r.disk.Start()
		}
		if err := s.fill(); err != nil {
			r.warn("bridge disk queue read failed", "error", err)
			if len(s.win) == 0 && !r.sleep(r.o.RetryMax) {
				return
			}
		}
		var head <-chan struct{}
		if len(s.win) > 0 {
			head = s.win[0].done
		}
		var wake <-chan struct{}
		if len(s.win) < s.max() {
			wake = r.wake
		}
		select {
		case <-head:
			if !s.settleHead() {
				return
			}
		case <-wake:
		case <-r.ctx.Done():
			s.abort()
			return
		}
	}
}

func (s *sender) max() int {
	if _, ok := s.r.sink.(Pipeliner); ok {
		return s.r.o.MaxInflightBatches
	}
	return 1
}

// fill starts batches until the window is full or the queue empty.
func (s *sender) fill() error {
	for len(s.win) < s.max() && s.r.ctx.Err() == nil {
		b, ok, err := s.next()
		if !ok {
			return err
		}
		s.start(b)
		if s.pl == nil { // sent synchronously (or failed to start): settle it first
			return nil
		}
	}
	if s.pl != nil && len(s.win) >= s.max() {
		s.pl.Flush()
	}
	return nil
}

// next takes the next batch, oldest first: the retry list, the disk
// queue (read ahead of the commits), then memory. Memory records are
// newer than any on disk, but a memory batch is not started while disk
// batches are in flight: if those failed, it would have to go back
// between them and newer disk records.
func (s *sender) next() (batch, bool, error) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.retry) > 0 {
		n, _ := sizeOf(r.retry, r.o.BatchSize, r.o.BatchBytes)
		b := batch{recs: r.retry[:n:n]}
		r.retry = r.retry[n:]
		if len(r.retry) == 0 {
			r.retry = nil
		}
		return b, true, nil
	}
	b, err := s.readDisk()
	if err != nil {
		return batch{}, false, err
	}
	if b.read > 0 {
		s.readPos = b.pos
		return b, true, nil
	}
	if r.mem.len() == 0 {
		return batch{}, false, nil
	}
	for _, f := range s.win {
		if f.b.src == fromDisk {
			return batch{}, false, nil
		}
	}
	n, size := r.mem.peekSize(r.o.BatchSize, r.o.BatchBytes)
	r.memBytes -= int64(size)
	return batch{recs: r.mem.take(make([]Record, 0, n), n)}, true, nil
}

// sizeOf returns how many records of recs make a batch, and their size.
func sizeOf(recs []Record, maxRecs, maxBytes int) (n, size int) {
	for n < len(recs) && n < maxRecs && (n == 0 || size < maxBytes) {
		size += recs[n].size()
		n++
	}
	return n, size
}

// readDisk reads a batch from the disk queue at the read position;
// undecodable records are counted and skipped. b.read is 0 when there is
// nothing more on disk. Called with r.mu held.
func (s *sender) readDisk() (batch, error) {
	r := s.r
	raw, pos, err := r.disk.ReadFrom(s.readPos, r.o.BatchSize, r.o.BatchBytes)
	if err != nil || len(raw) == 0 {
		return batch{}, err
	}
	b := batch{src: fromDisk, pos: pos, read: len(raw), recs: make([]Record, 0, len(raw))}
	var topic string
	for _, p := range raw {
		rec, err := DecodeRecord(p)
		if err != nil {
			r.dropped[DropEncoding]++
			continue
		}
		if rec.Topic == topic { // share the string: one allocation per batch, not per record
			rec.Topic = topic
		}
		topic = rec.Topic
		b.recs = append(b.recs, rec)
	}
	return b, nil
}

// start sends b: through the pipeline, or synchronously.
func (s *sender) start(b batch) {
	r := s.r
	f := &flight{b: b, start: time.Now(), done: make(chan struct{})}
	s.win = append(s.win, f)
	if len(b.recs) == 0 { // only undecodable records: nothing to send
		close(f.done)
		return
	}
	r.inflight.Add(int64(len(b.recs)))
	r.lastSend.Store(f.start.UnixNano())
	p, ok := r.sink.(Pipeliner)
	if ok && s.pl == nil {
		pl, err := p.Pipeline()
		if err != nil {
			f.err = err
			close(f.done)
			return
		}
		s.pl = pl
	}
	if s.pl == nil {
		ctx, cancel := context.WithTimeout(r.ctx, r.o.SendTimeout)
		f.err = r.sink.Send(ctx, b.recs)
		if f.err == nil && ctx.Err() != nil && r.ctx.Err() == nil {
			f.err = fmt.Errorf("send timed out after %s: %w", r.o.SendTimeout, ctx.Err())
		}
		cancel()
		close(f.done)
		return
	}
	pl := s.pl
	f.timer = time.AfterFunc(r.o.SendTimeout, func() {
		f.timedOut.Store(true)
		pl.Abort()
	})
	pl.Send(r.ctx, b.recs, func(err error) {
		f.err = err
		close(f.done)
	})
}

// finish records the outcome of a settled flight and returns its error.
func (s *sender) finish(f *flight) error {
	r := s.r
	if f.timer != nil {
		f.timer.Stop()
	}
	n := len(f.b.recs)
	r.inflight.Add(-int64(n))
	err := f.err
	if n == 0 {
		return nil
	}
	if err == nil {
		r.latency.add(time.Since(f.start))
		r.sent.Add(uint64(n))
		r.setStatus(nil)
		return nil
	}
	r.failed.Add(uint64(n))
	if f.timedOut.Load() && !IsPermanent(err) {
		err = fmt.Errorf("no answer within send_timeout %s: %w", r.o.SendTimeout, err)
	} else if errors.Is(err, context.DeadlineExceeded) && !IsPermanent(err) {
		err = fmt.Errorf("no answer within send_timeout %s: %w", r.o.SendTimeout, err)
	}
	if r.ctx.Err() == nil && !IsPermanent(err) {
		r.setStatus(err)
	}
	return err
}

// settleHead settles the head of the window (done); false when the
// runner stops.
func (s *sender) settleHead() bool {
	r := s.r
	f := s.win[0]
	err := s.finish(f)
	if err == nil {
		s.win[0] = nil
		s.win = s.win[1:]
		s.commit(f.b)
		if s.attempt > 0 {
			r.mu.Lock()
			r.through = false // the sink works: new records may wait in memory again
			r.mu.Unlock()
		}
		s.attempt = 0
		return true
	}
	// A failure: the rest of the window cannot be trusted to keep order.
	s.win = s.win[1:]
	rest := s.drain()
	if IsPermanent(err) {
		s.commit(f.b)
		r.mu.Lock()
		r.dropped[DropPermanent] += uint64(len(f.b.recs))
		r.mu.Unlock()
		r.warn("bridge sink refused records", "records", len(f.b.recs), "error", err)
		s.requeue(rest, false)
		return true
	}
	s.requeue(append([]*flight{f}, rest...), true)
	if r.ctx.Err() != nil {
		return false
	}
	r.retried.Add(uint64(len(f.b.recs)))
	r.warn("bridge send failed, will retry", "records", len(f.b.recs), "error", err)
	if !r.sleep(backoff(s.attempt, r.o.RetryMin, r.o.RetryMax)) {
		return false
	}
	s.attempt++
	return true
}

// drain aborts the pipeline and waits (at most SendTimeout) for every
// flight of the window to be answered; it empties the window and returns
// the flights, answered or not.
func (s *sender) drain() []*flight {
	rest := s.win
	s.win = nil
	if s.pl != nil {
		s.pl.Abort()
		s.pl = nil
	}
	t := time.NewTimer(s.r.o.SendTimeout)
	defer t.Stop()
	for _, f := range rest {
		select {
		case <-f.done:
		case <-t.C:
		}
	}
	for _, f := range rest {
		select {
		case <-f.done:
			_ = s.finish(f)
		default: // no answer: count it as failed; a late answer is ignored
			if f.timer != nil {
				f.timer.Stop()
			}
			s.r.inflight.Add(-int64(len(f.b.recs)))
			s.r.failed.Add(uint64(len(f.b.recs)))
		}
	}
	return rest
}

// abort settles the window when the runner stops: the answered prefix
// is committed, the rest put back.
func (s *sender) abort() {
	rest := s.drain()
	i := 0
	for ; i < len(rest); i++ {
		select {
		case <-rest[i].done:
			if rest[i].err == nil {
				s.commit(rest[i].b)
				continue
			}
		default:
		}
		break
	}
	s.requeue(rest[i:], false)
}

// commit drops a sent disk batch from the disk queue.
func (s *sender) commit(b batch) {
	if b.src != fromDisk {
		return
	}
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.disk.Commit(b.pos); err != nil {
		r.warn("bridge disk queue commit failed (records may be sent again)", "error", err)
	}
}

// requeue puts the memory batches of fs (sent, perhaps even delivered,
// but not settled) back at the head of the queue: on disk, so that a
// restart keeps them, ahead of the disk batches of fs, which were not
// committed. When the sink is failing, new records go to disk until a
// send succeeds.
func (s *sender) requeue(fs []*flight, failing bool) {
	r := s.r
	var recs []Record
	for _, f := range fs {
		if f.b.src == fromMemory {
			recs = append(recs, f.b.recs...)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retry = append(recs, r.retry...)
	if err := r.prependRetry(); err != nil {
		r.warn("bridge disk queue write failed: keeping the records in memory", "error", err)
	}
	if !failing || r.ctx.Err() != nil {
		return
	}
	if err := r.spillMemory(); err != nil {
		r.warn("bridge disk queue write failed: keeping records in memory", "error", err)
		return
	}
	r.through = true
}

// prependRetry moves the retry list to the head of the disk queue.
// Called with r.mu held.
func (r *Runner) prependRetry() error {
	if len(r.retry) == 0 {
		return nil
	}
	enc := encodeAll(len(r.retry), func(f func(*Record)) {
		for i := range r.retry {
			f(&r.retry[i])
		}
	})
	if err := r.disk.Prepend(enc); err != nil {
		return fmt.Errorf("bridge %s: %w", r.o.Name, err)
	}
	r.retry = nil
	return nil
}
