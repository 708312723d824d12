package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iothub-dev/iothub/bridge/diskqueue"
)

// batch is what the sender sends at once.
type batch struct {
	recs  []Record
	ends  []diskqueue.Position // the durable queue's position after each record
	start diskqueue.Position   // the position before recs[0]
	// lo and hi locate a retry batch in sender.retry (retry is true).
	retry  bool
	lo, hi int
}

// prev returns the position before record i.
func (b *batch) prev(i int) diskqueue.Position {
	if i == 0 {
		return b.start
	}
	return b.ends[i-1]
}

// flight is a batch sent and not yet settled.
type flight struct {
	b     batch
	start time.Time
	done  chan struct{} // closed once err is set
	err   error
	timer *time.Timer
}

// owed is a record that failed with a retryable error and is sent again
// (in order, before anything new).
type owed struct {
	rec       Record
	prev, end diskqueue.Position
	done      bool // delivered, or given up, in the current round
}

// sender is the state of the sender goroutine (Runner.run).
type sender struct {
	r       *Runner
	pl      Pipeline // nil: none open, or the sink does not pipeline
	win     []*flight
	retry   []owed             // records to send again, oldest first
	retryAt int                // retry[:retryAt] were sent in the current round
	next    diskqueue.Position // where the oldest record not yet taken starts
	settled diskqueue.Position // the end of the last settled batch of new records
	attempt int                // consecutive rounds without a delivery
	// delivered holds, after an unclean stop, the identities the sink
	// already has: those records are not sent again (Recoverer).
	delivered map[recID]struct{}
}

// run is the sender goroutine: it keeps up to MaxInflightBatches batches
// in flight (one when the sink is not a Pipeliner), settles them in
// order, resends what failed with a retryable error (only that, after a
// backoff, before anything new), gives what failed for good to the dead
// letter, and commits the durable queue up to the oldest record not yet
// settled.
func (r *Runner) run() {
	defer r.wg.Done()
	s := &sender{r: r, next: r.disk.Start()}
	s.settled = s.next
	s.recoverDelivered()
	for {
		if err := s.fill(); err != nil {
			r.warn("bridge durable queue read failed", "error", err)
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
				s.abort()
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

// fill starts batches until the window is full or nothing is ready.
func (s *sender) fill() error {
	for len(s.win) < s.max() && s.r.ctx.Err() == nil {
		b, ok, err := s.nextBatch()
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

// nextBatch takes the next batch: records owed a resend (once the window
// holds no newer batch), else new records — from the memory cache when it
// holds the oldest one not taken, else from the durable queue.
func (s *sender) nextBatch() (batch, bool, error) {
	if len(s.retry) > 0 {
		for _, f := range s.win {
			if !f.b.retry {
				return batch{}, false, nil // resend only once newer batches settled
			}
		}
		if s.retryAt == len(s.retry) {
			return batch{}, false, nil
		}
		lo := s.retryAt
		hi := min(len(s.retry), lo+s.r.o.BatchSize)
		b := batch{retry: true, lo: lo, hi: hi}
		for _, o := range s.retry[lo:hi] {
			b.recs = append(b.recs, o.rec)
		}
		s.retryAt = hi
		return b, true, nil
	}
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if start := r.disk.Start(); start.Seq > s.next.Seq {
		s.next = start // drop_oldest dropped records not yet taken
	}
	if r.mem.len() > 0 && r.mem.first().end.Seq-1 <= s.next.Seq {
		n := r.mem.peekSize(r.o.BatchSize, r.o.BatchBytes)
		b := batch{start: s.next, recs: make([]Record, 0, n), ends: make([]diskqueue.Position, 0, n)}
		var size int
		b.recs, b.ends, size = r.mem.take(b.recs, b.ends, n)
		r.memBytes -= int64(size)
		s.next = b.ends[len(b.ends)-1]
		return b, true, nil
	}
	return s.readDisk()
}

// readDisk reads a batch from the durable queue at s.next, up to the
// oldest record the memory cache holds; undecodable records are counted
// and skipped. Called with r.mu held.
func (s *sender) readDisk() (batch, bool, error) {
	r := s.r
	maxRecs := r.o.BatchSize
	if r.mem.len() > 0 {
		maxRecs = min(maxRecs, int(r.mem.first().end.Seq-1-s.next.Seq))
	}
	if maxRecs <= 0 || r.disk.Tail().Seq <= s.next.Seq {
		return batch{}, false, nil
	}
	raw, ends, err := r.disk.ReadFrom(s.next, maxRecs, r.o.BatchBytes)
	if err != nil || len(raw) == 0 {
		return batch{}, false, err
	}
	b := batch{start: s.next, recs: make([]Record, 0, len(raw)), ends: make([]diskqueue.Position, 0, len(raw))}
	if ends[0].Seq != s.next.Seq+1 { // drop_oldest dropped records meanwhile
		b.start = r.disk.Start()
	}
	s.next = ends[len(ends)-1]
	var topic string
	for i, p := range raw {
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
		b.ends = append(b.ends, ends[i])
	}
	if len(b.recs) == 0 { // only undecodable records: commit past them
		s.settled = s.next
		s.commit()
		return s.readDisk()
	}
	return b, true, nil
}

// start sends b: through the pipeline, or synchronously.
func (s *sender) start(b batch) {
	r := s.r
	f := &flight{b: b, start: time.Now(), done: make(chan struct{})}
	s.win = append(s.win, f)
	r.inflight.Add(int64(len(b.recs)))
	r.lastSend.Store(f.start.UnixNano())
	recs, idx := s.unsent(b.recs)
	if len(recs) == 0 { // the sink holds them all
		close(f.done)
		return
	}
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
		f.err = r.sink.Send(ctx, recs)
		if f.err != nil && ctx.Err() != nil && r.ctx.Err() == nil {
			f.err = noAnswer(r.o.SendTimeout, f.err)
		}
		f.err = spread(f.err, idx, len(b.recs))
		cancel()
		close(f.done)
		return
	}
	// A pipelined batch is not abandoned when it takes long: its client
	// keeps retrying it (an idempotent producer without duplicates). The
	// status says so meanwhile.
	f.timer = time.AfterFunc(r.o.SendTimeout, func() {
		r.setStatus(noAnswer(r.o.SendTimeout, errors.New("the batch is still in flight")))
	})
	s.pl.Send(r.ctx, recs, func(err error) {
		f.err = spread(err, idx, len(b.recs))
		close(f.done)
	})
}

// noAnswer wraps the error of a send that timed out.
func noAnswer(d time.Duration, err error) error {
	return fmt.Errorf("no answer within send_timeout %s: %w", d, err)
}

// settleHead settles the head of the window (done): delivered records are
// counted, records refused for good go to the dead letter, the others are
// owed a resend; then the durable queue is committed as far as possible.
// It returns false when the runner stops during a backoff.
func (s *sender) settleHead() bool {
	r := s.r
	f := s.win[0]
	s.win[0] = nil
	s.win = s.win[1:]
	if f.timer != nil {
		f.timer.Stop()
	}
	n := len(f.b.recs)
	r.inflight.Add(-int64(n))
	errs := recordErrors(f.err, n)
	var delivered int
	var deadRecs []Record
	var deadErrs []error
	var retryErr error
	for i := range f.b.recs {
		var err error
		if errs != nil {
			err = errs[i]
		}
		switch {
		case err == nil:
			delivered++
			s.resolve(f, i)
		case IsPermanent(err):
			deadRecs, deadErrs = append(deadRecs, f.b.recs[i]), append(deadErrs, err)
			s.resolve(f, i)
		default:
			retryErr = err
			if !f.b.retry {
				s.retry = append(s.retry, owed{rec: f.b.recs[i], prev: f.b.prev(i), end: f.b.ends[i]})
				r.retried.Add(1)
			}
		}
	}
	if !f.b.retry {
		s.settled = f.b.ends[n-1]
	}
	if delivered > 0 {
		r.latency.add(time.Since(f.start))
		r.sent.Add(uint64(delivered))
		r.setStatus(nil)
		s.attempt = 0
	}
	if len(deadRecs) > 0 {
		s.deadLetter(deadRecs, deadErrs)
	}
	if retryErr != nil {
		if r.ctx.Err() != nil {
			return false
		}
		if delivered == 0 {
			r.setStatus(retryErr)
		}
		s.pl = nil // a pipeline that failed a record may hold back the rest: open a new one
		r.warn("bridge send failed, will retry", "records", n-delivered-len(deadRecs), "error", retryErr)
	}
	s.commit()
	if len(s.win) > 0 || len(s.retry) == 0 {
		return true
	}
	return s.nextRound()
}

// resolve marks record i of f settled when f is a retry batch.
func (s *sender) resolve(f *flight, i int) {
	if f.b.retry {
		s.retry[f.b.lo+i].done = true
	}
}

// nextRound ends a round of resends once the window is empty: what is
// still owed is sent again after a backoff. False when the runner stops.
func (s *sender) nextRound() bool {
	kept := s.retry[:0]
	for _, o := range s.retry {
		if !o.done {
			kept = append(kept, o)
		}
	}
	clear(s.retry[len(kept):])
	s.retry, s.retryAt = kept, 0
	if len(s.retry) == 0 {
		s.retry = nil
		s.commit()
		return true
	}
	d := backoff(s.attempt, s.r.o.RetryMin, s.r.o.RetryMax)
	s.attempt++
	return s.r.sleep(d)
}

// commit moves the durable queue's committed position to just before the
// oldest record owed a resend, or else after the last settled batch.
func (s *sender) commit() {
	pos := s.settled
	for _, o := range s.retry {
		if !o.done {
			pos = o.prev
			break
		}
	}
	if err := s.r.disk.Commit(pos); err != nil && !errors.Is(err, diskqueue.ErrClosed) {
		s.r.warn("bridge durable queue commit failed (records may be sent again)", "error", err)
	}
}

// deadLetter hands records refused for good to the dead letter; what it
// cannot take is dropped. Both are counted as failed.
func (s *sender) deadLetter(recs []Record, errs []error) {
	r := s.r
	r.failed.Add(uint64(len(recs)))
	if dl := r.o.DeadLetter; dl != nil {
		ctx, cancel := context.WithTimeout(r.ctx, r.o.SendTimeout)
		err := dl.Write(ctx, recs, errs)
		cancel()
		if err == nil {
			r.deadLettered.Add(uint64(len(recs)))
			r.warn("bridge sink refused records: dead-lettered", "records", len(recs), "error", errs[0])
			return
		}
		r.warn("bridge dead letter failed: records dropped", "records", len(recs), "error", err)
	} else {
		r.warn("bridge sink refused records: dropped", "records", len(recs), "error", errs[0])
	}
	r.mu.Lock()
	r.dropped[DropPermanent] += uint64(len(recs))
	r.mu.Unlock()
}

// abort ends the window when the runner stops: the pipeline is aborted
// and the answers that arrive in time are settled. What is not settled
// stays in the durable queue for the next run.
func (s *sender) abort() {
	if s.pl != nil {
		s.pl.Abort()
	}
	t := time.NewTimer(s.r.o.SendTimeout)
	defer t.Stop()
	for len(s.win) > 0 {
		select {
		case <-s.win[0].done:
			_ = s.settleHead()
		case <-t.C:
			for _, f := range s.win {
				if f.timer != nil {
					f.timer.Stop()
				}
				s.r.inflight.Add(-int64(len(f.b.recs)))
			}
			s.win = nil
			return
		}
	}
}
