package kafka

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/iothub-dev/iothub/bridge"
)

// errAborted fails the sends of an aborted pipeline.
var errAborted = errors.New("kafka: pipeline aborted")

// Pipeline opens a pipeline on the current client, so that the runner
// can keep several batches in flight (async mode; nil in sync mode).
// franz-go keeps the records of one partition in order across batches
// (with the idempotent producer, also across its internal retries); the
// first failure breaks the pipeline and discards the client, so that no
// later record is produced on it.
func (p *Producer) Pipeline() (bridge.Pipeline, error) {
	if p.o.Sync {
		return nil, nil
	}
	cl, err := p.client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &pipeline{p: p, cl: cl, ctx: ctx, cancel: cancel}, nil
}

// pipeline is a bridge.Pipeline on one franz-go client.
type pipeline struct {
	p      *Producer
	cl     *kgo.Client
	ctx    context.Context // cancelled when broken: unblocks a Produce waiting for buffer space
	cancel context.CancelFunc

	broken   atomic.Bool
	flushing atomic.Bool
	mu       sync.Mutex
	err      error // the first failure
}

// fail breaks the pipeline with err (the first failure wins) and
// discards its client, failing the records it still buffers.
func (pl *pipeline) fail(err error) {
	pl.mu.Lock()
	if pl.err != nil {
		pl.mu.Unlock()
		return
	}
	pl.err = err
	pl.broken.Store(true)
	pl.mu.Unlock()
	pl.cancel()
	pl.p.reset(pl.cl)
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

// Abort implements bridge.Pipeline.
func (pl *pipeline) Abort() { pl.fail(errAborted) }

// Send implements bridge.Pipeline: it produces recs without waiting.
func (pl *pipeline) Send(_ context.Context, recs []bridge.Record, done func(error)) {
	if len(recs) == 0 {
		done(nil)
		return
	}
	b := &pending{pl: pl, done: done}
	b.left.Store(int64(len(recs)))
	krs := make([]kgo.Record, len(recs)) // one allocation per batch
	promise := b.promise
	for i := range recs {
		if pl.broken.Load() { // fail the rest of the batch without producing it
			b.finish(int64(len(recs)-i), pl.failure())
			return
		}
		setRecord(&krs[i], &recs[i])
		pl.cl.Produce(pl.ctx, &krs[i], promise)
	}
}

// pending is one batch of a pipeline waiting for its acknowledgements.
type pending struct {
	pl   *pipeline
	done func(error)
	left atomic.Int64
	mu   sync.Mutex
	err  error
}

func (b *pending) promise(_ *kgo.Record, err error) {
	if err != nil {
		b.pl.fail(err)
	}
	b.finish(1, err)
}

// finish counts n records answered with err, and calls done after the
// last.
func (b *pending) finish(n int64, err error) {
	if err != nil {
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	if b.left.Add(-n) != 0 {
		return
	}
	b.mu.Lock()
	err = b.err
	b.mu.Unlock()
	if err != nil {
		err = classify(err)
	}
	b.done(err)
}

var _ bridge.Pipeliner = (*Producer)(nil)
