package kafka

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/iothub-dev/iothub/bridge"
)

// errAborted fails the sends of an aborted pipeline (retryable: the
// records are still in the bridge's durable queue).
var errAborted = errors.New("kafka: pipeline aborted")

// Pipeline opens a pipeline on the producer's client, so that the runner
// can keep several batches in flight. franz-go keeps the records of one
// partition in order across batches and across its own retries (with
// the idempotent producer, without duplicates); a record that fails with
// a retryable error breaks the pipeline, so that nothing produced after
// it on this pipeline overtakes it (the runner opens a new one to send it
// again). A record that fails for good (bridge.Permanent) does not: the
// others go on.
func (p *Producer) Pipeline() (bridge.Pipeline, error) {
	ctx, cancel := context.WithCancel(context.Background())
	return &pipeline{p: p, cl: p.cl, ctx: ctx, cancel: cancel, open: map[*pending]struct{}{}}, nil
}

// pipeline is a bridge.Pipeline on the producer's client.
type pipeline struct {
	p      *Producer
	cl     *kgo.Client
	ctx    context.Context // cancelled when broken: unblocks a Produce waiting for buffer space
	cancel context.CancelFunc

	broken   atomic.Bool
	flushing atomic.Bool
	mu       sync.Mutex
	err      error                 // the first retryable failure
	open     map[*pending]struct{} // batches not yet answered
}

// fail breaks the pipeline with err (the first failure wins).
func (pl *pipeline) fail(err error) {
	pl.mu.Lock()
	if pl.err == nil {
		pl.err = err
	}
	pl.mu.Unlock()
	pl.broken.Store(true)
	pl.cancel()
}

func (pl *pipeline) failure() error {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.err
}

// Flush implements bridge.Pipeline: one goroutine at a time runs
// franz-go's Flush, which stops lingering until the buffer is empty.
func (pl *pipeline) Flush() {
	if pl.flushing.CompareAndSwap(false, true) {
		go func() {
			_ = pl.cl.Flush(pl.ctx)
			pl.flushing.Store(false)
		}()
	}
}

// Abort implements bridge.Pipeline: it breaks the pipeline and answers
// every batch not yet answered with errAborted at once (the records stay
// buffered in franz-go until the producer is closed; their late answers
// are ignored).
func (pl *pipeline) Abort() {
	pl.fail(errAborted)
	pl.mu.Lock()
	open := make([]*pending, 0, len(pl.open))
	for b := range pl.open {
		open = append(open, b)
	}
	pl.mu.Unlock()
	for _, b := range open {
		b.answer(errAborted)
	}
}

// Send implements bridge.Pipeline: it produces recs without waiting; done
// gets nil, or a *bridge.BatchError with each record's fate.
func (pl *pipeline) Send(_ context.Context, recs []bridge.Record, done func(error)) {
	if len(recs) == 0 {
		done(nil)
		return
	}
	b := &pending{pl: pl, done: done, krs: make([]kgo.Record, len(recs))} // one allocation per batch
	b.left.Store(int64(len(recs)))
	pl.mu.Lock()
	pl.open[b] = struct{}{}
	pl.mu.Unlock()
	if pl.p.o.Sync {
		b.recs = recs
		b.produceFrom(0)
		return
	}
	promise := b.promise
	for i := range recs {
		if pl.broken.Load() { // fail the rest of the batch without producing it
			err := pl.failure()
			for j := i; j < len(recs); j++ {
				b.record(j, err)
			}
			b.finish(int64(len(recs) - i))
			return
		}
		setRecord(&b.krs[i], &recs[i])
		pl.cl.Produce(pl.ctx, &b.krs[i], promise)
	}
}

// produceFrom produces record i of a sync-mode batch; its answer produces
// the next (a record refused for good does not stop the others).
func (b *pending) produceFrom(i int) {
	pl := b.pl
	if i == len(b.krs) {
		return
	}
	if pl.broken.Load() {
		err := pl.failure()
		for j := i; j < len(b.krs); j++ {
			b.record(j, err)
		}
		b.finish(int64(len(b.krs) - i))
		return
	}
	setRecord(&b.krs[i], &b.recs[i])
	pl.cl.Produce(pl.ctx, &b.krs[i], func(r *kgo.Record, err error) {
		b.promise(r, err)
		b.produceFrom(i + 1)
	})
}

// pending is one batch of a pipeline waiting for its acknowledgements.
type pending struct {
	pl       *pipeline
	done     func(error)
	recs     []bridge.Record // sync mode: produced one at a time
	krs      []kgo.Record
	left     atomic.Int64
	answered atomic.Bool
	mu       sync.Mutex
	errs     []error // nil until a record fails
}

func (b *pending) promise(r *kgo.Record, err error) {
	if err != nil {
		err = classify(err)
		if !bridge.IsPermanent(err) {
			b.pl.fail(err)
		}
		b.record(b.index(r), err)
	}
	b.finish(1)
}

// index finds r in the batch (only for failed records: no per-record
// allocation for the others).
func (b *pending) index(r *kgo.Record) int {
	for i := range b.krs {
		if &b.krs[i] == r {
			return i
		}
	}
	return 0
}

// record sets the error of record i.
func (b *pending) record(i int, err error) {
	b.mu.Lock()
	if b.errs == nil {
		b.errs = make([]error, len(b.krs))
	}
	b.errs[i] = err
	b.mu.Unlock()
}

// finish counts n records answered, and answers the batch after the last.
func (b *pending) finish(n int64) {
	if b.left.Add(-n) != 0 {
		return
	}
	b.mu.Lock()
	errs := b.errs
	b.mu.Unlock()
	if errs == nil {
		b.answer(nil)
		return
	}
	b.answer(&bridge.BatchError{Errs: errs})
}

// answer calls done once.
func (b *pending) answer(err error) {
	if !b.answered.CompareAndSwap(false, true) {
		return
	}
	b.pl.mu.Lock()
	delete(b.pl.open, b)
	b.pl.mu.Unlock()
	b.done(err)
}

var _ bridge.Pipeliner = (*Producer)(nil)
