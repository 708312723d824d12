package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/bridge/diskqueue"
	"github.com/iothub-dev/iothub/logging"
)

// ErrStopped is returned by Enqueue after Close.
var ErrStopped = errors.New("bridge: stopped")

// Options configure a Runner; zero values take the defaults.
type Options struct {
	// Name names the bridge in logs.
	Name string
	// Dir is the durable queue's directory (<data_dir>/bridges/<name>).
	Dir string
	// Logger receives the runner's logs (default slog.Default()).
	Logger *slog.Logger
	// BatchSize is the most records per Send (default 500).
	BatchSize int
	// BatchBytes is about the most payload bytes per Send (default 4 MiB).
	BatchBytes int
	// MemoryRecords bounds the memory cache (default 10000): beyond it
	// the oldest records are read back from the durable queue when their
	// turn comes.
	MemoryRecords int
	// MaxInflightBatches bounds the batches sent and not yet acknowledged
	// when the sink is a Pipeliner (default 4); other sinks have one.
	MaxInflightBatches int
	// MemoryBytes bounds the memory cache's bytes (default 32 MiB).
	MemoryBytes int64
	// SendTimeout bounds one Send of a sink that is not a Pipeliner
	// (default 10s; the records not answered in time are sent again). A
	// Pipeliner's batch is not abandoned (its client retries it, so an
	// idempotent producer does not duplicate it); one that has no answer
	// after SendTimeout shows the bridge as disconnected.
	SendTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between retries (defaults
	// 200ms and 30s); each wait is doubled, then jittered by ±20%.
	RetryMin, RetryMax time.Duration
	// HealthInterval is how often an idle runner checks a HealthChecker
	// sink (default 15s; every RetryMin·8, at most 2s, while disconnected).
	HealthInterval time.Duration
	// RequestSync, when set, is called after every Enqueue: the owner of
	// the runner then calls Sync soon (the broker's group commit, see
	// broker.Syncer). When nil the runner writes appended records itself,
	// at once, in the background.
	RequestSync func()
	// DeadLetter keeps the records the sink refused for good (nil: they
	// are dropped, counted as dropped.permanent).
	DeadLetter DeadLetter
	// Disk configures the durable queue.
	Disk diskqueue.Options
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	setDefault(&o.BatchSize, 500)
	setDefault(&o.BatchBytes, 4<<20)
	setDefault(&o.MemoryRecords, 10000)
	setDefault(&o.MaxInflightBatches, 4)
	setDefault(&o.MemoryBytes, 32<<20)
	setDefault(&o.SendTimeout, 10*time.Second)
	setDefault(&o.RetryMin, 200*time.Millisecond)
	setDefault(&o.RetryMax, 30*time.Second)
	setDefault(&o.HealthInterval, 15*time.Second)
}

func setDefault[T int | int64 | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

// Runner delivers records to one Sink: see the package documentation.
type Runner struct {
	o    Options
	sink Sink
	log  *slog.Logger
	disk *diskqueue.Queue

	dedup *dedupState // nil: the sink is not a Recoverer

	mu       sync.Mutex
	mem      recQueue // cache of the newest records not yet taken by the sender
	memBytes int64
	closed   bool
	dropped  map[string]uint64
	encBuf   []byte
	encs     [][]byte
	ends     []diskqueue.Position

	wake     chan struct{}
	flush    chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	lastSend atomic.Int64 // unix nanos of the last send attempt
	warnRate logging.Limiter
	status   *statusKeeper

	matched, sent, failed, retried, deadLettered atomic.Uint64
	deduplicated                                 atomic.Uint64
	inflight                                     atomic.Int64
	latency                                      histogram
	rate                                         rateMeter
}

// NewRunner opens the durable queue in o.Dir and returns a runner for
// sink; Start starts sending. Records left in the queue by an earlier run
// are sent first.
func NewRunner(sink Sink, o Options) (*Runner, error) {
	o.defaults()
	if o.Dir == "" {
		return nil, fmt.Errorf("bridge %s: no queue directory", o.Name)
	}
	dq, err := diskqueue.Open(o.Dir, o.Disk)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", o.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := o.Logger.With("bridge", o.Name)
	r := &Runner{o: o, sink: sink, log: log, disk: dq,
		dropped: map[string]uint64{}, wake: make(chan struct{}, 1), flush: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, status: newStatusKeeper(log, o.SendTimeout)}
	if err := r.openDedup(); err != nil {
		cancel()
		_ = dq.Close()
		return nil, err
	}
	return r, nil
}

// Start starts the sender (and the health checks of a HealthChecker sink).
func (r *Runner) Start() {
	if sr, ok := r.sink.(StatusReporter); ok {
		sr.ReportStatus(r.report)
	}
	r.wg.Add(2)
	go r.run()
	go r.tickLoop()
	if r.o.RequestSync == nil {
		r.wg.Add(1)
		go r.flushLoop()
	}
	if n := r.disk.Len(); n > 0 {
		r.log.Info("bridge resuming with records queued on disk", "records", n, "bytes", r.disk.Bytes())
	}
}

// Enqueue queues recs for sending, in order. It never waits for the sink:
// each record is appended to the durable queue (buffered: Sync, or the
// runner itself when no RequestSync is set, writes it) and kept in the
// memory cache, whose oldest records are dropped from memory (not from
// the durable queue) when it is full. It returns an error only for
// records it could not queue (counted in Metrics().Dropped): ErrStopped,
// diskqueue.ErrFull under the refuse policy, or a disk error.
func (r *Runner) Enqueue(recs ...Record) error {
	r.matched.Add(uint64(len(recs)))
	r.mu.Lock()
	err := r.enqueue(recs)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if r.o.RequestSync != nil {
		r.o.RequestSync()
	} else {
		signal(r.flush)
	}
	signal(r.wake)
	return nil
}

// enqueue appends recs to the durable queue and the memory cache; r.mu is
// held.
func (r *Runner) enqueue(recs []Record) error {
	if r.closed {
		r.dropped[DropStopped] += uint64(len(recs))
		return ErrStopped
	}
	if recs = r.dropQueued(recs); len(recs) == 0 {
		return nil
	}
	r.encBuf, r.encs = r.encBuf[:0], r.encs[:0]
	for i := range recs {
		start := len(r.encBuf)
		r.encBuf = EncodeRecord(r.encBuf, &recs[i])
		r.encs = append(r.encs, r.encBuf[start:len(r.encBuf):len(r.encBuf)])
	}
	var dropped int
	var err error
	r.ends, dropped, err = r.disk.Append(r.ends[:0], r.encs...)
	if cap(r.encBuf) > 1<<20 {
		r.encBuf, r.encs = nil, nil
	}
	if dropped > 0 {
		r.dropped[DropBufferFull] += uint64(dropped)
		r.warn("bridge buffer full: oldest records dropped", "records", dropped)
		r.evictBelow(r.disk.Start().Seq)
	}
	if err != nil {
		r.forgetQueued(recs)
		r.dropped[dropReason(err)] += uint64(len(recs))
		r.warn("bridge buffer: records refused", "records", len(recs), "error", err)
		return fmt.Errorf("bridge %s: %w", r.o.Name, err)
	}
	for i := range recs {
		r.mem.push(entry{rec: recs[i], end: r.ends[i]})
		r.memBytes += int64(recs[i].size())
	}
	if over := r.mem.len() - r.o.MemoryRecords; over > 0 {
		r.memBytes -= int64(r.mem.discard(over))
	}
	for r.memBytes > r.o.MemoryBytes && r.mem.len() > 0 {
		r.memBytes -= int64(r.mem.discard(max(1, r.mem.len()/8)))
	}
	return nil
}

// evictBelow drops from memory the records before sequence number seq
// (dropped from the durable queue by drop_oldest); r.mu is held.
func (r *Runner) evictBelow(seq int64) {
	for r.mem.len() > 0 {
		if r.mem.first().end.Seq > seq {
			break
		}
		r.memBytes -= int64(r.mem.discard(1))
	}
}

func dropReason(err error) string {
	if errors.Is(err, diskqueue.ErrFull) || errors.Is(err, diskqueue.ErrTooLarge) {
		return DropBufferFull
	}
	return DropDiskError
}

// signal wakes the goroutine waiting on c, without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Sync writes the records appended so far to the durable queue, and with
// durable also flushes them to the disk (fsync). It implements
// broker.Syncer for the bridge manager: the broker calls it in its group
// commit, before the acknowledgements of the messages those records came
// from.
func (r *Runner) Sync(durable bool) error {
	if err := r.disk.Flush(durable); err != nil && !errors.Is(err, diskqueue.ErrClosed) {
		r.warn("bridge durable queue write failed", "error", err)
		return fmt.Errorf("bridge %s: %w", r.o.Name, err)
	}
	return nil
}

// flushLoop writes appended records when no owner calls Sync.
func (r *Runner) flushLoop() {
	defer r.wg.Done()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.flush:
			_ = r.Sync(false)
		}
	}
}

// sleep waits d or until the runner stops (false).
func (r *Runner) sleep(d time.Duration) bool { return sleep(r.ctx, d) }

// sleep waits d or until ctx is done (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// backoff is min·2^attempt capped at max, jittered by ±20%.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo << min(attempt, 30)
	if d <= 0 || d > hi {
		d = hi
	}
	j := 0.8 + 0.4*rand.Float64() //nolint:gosec // jitter needs no cryptographic randomness
	return time.Duration(float64(d) * j)
}

// tickLoop samples the send rate every second and checks a HealthChecker
// sink at start and whenever no send happened for HealthInterval (more
// often while disconnected).
func (r *Runner) tickLoop() {
	defer r.wg.Done()
	hc, _ := r.sink.(HealthChecker)
	check := func() {
		if hc == nil {
			return
		}
		ctx, cancel := context.WithTimeout(r.ctx, min(r.o.SendTimeout, r.o.HealthInterval))
		err := hc.Health(ctx)
		cancel()
		if r.ctx.Err() == nil {
			r.status.set(err, fromHealth)
		}
	}
	check()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	lastCheck := time.Now()
	for {
		select {
		case <-r.ctx.Done():
			return
		case now := <-t.C:
			r.rate.add(now, r.sent.Load())
			every := r.o.HealthInterval
			if r.Status().State != StateConnected {
				every = min(every, min(8*r.o.RetryMin, 2*time.Second))
			}
			idle := now.Sub(time.Unix(0, r.lastSend.Load())) >= every && r.inflight.Load() == 0
			if idle && now.Sub(lastCheck) >= every {
				check()
				lastCheck = now
			}
		}
	}
}

// report is the StatusReporter callback: the sink's own news about its
// connection.
func (r *Runner) report(err error) { r.status.set(err, fromReport) }

// setStatus records a send or health outcome (statusKeeper's rules: a
// context error does not replace an error the sink reported within the
// last SendTimeout).
func (r *Runner) setStatus(err error) { r.status.set(err, fromSend) }

// Status returns the connection state.
func (r *Runner) Status() Status { return r.status.get() }

// Metrics returns a snapshot of the counters.
func (r *Runner) Metrics() Metrics {
	r.mu.Lock()
	m := Metrics{MemoryBytes: r.memBytes, Dropped: make(map[string]uint64, len(r.dropped))}
	for k, v := range r.dropped {
		m.Dropped[k] = v
	}
	inMemory := int64(r.mem.len())
	r.mu.Unlock()
	m.Queued, m.DiskBytes = r.disk.Len(), r.disk.Bytes()
	m.InFlight = r.inflight.Load()
	m.Queued = max(m.Queued-m.InFlight, 0) // the durable queue holds them until acknowledged
	m.QueuedDisk = max(m.Queued-inMemory, 0)
	m.BufferBytes = m.MemoryBytes + m.DiskBytes
	m.Matched, m.Sent, m.Failed, m.Retried = r.matched.Load(), r.sent.Load(), r.failed.Load(), r.retried.Load()
	m.DeadLettered, m.Deduplicated = r.deadLettered.Load(), r.deduplicated.Load()
	if rc, ok := r.o.DeadLetter.(interface{ Rotations() uint64 }); ok {
		m.DeadLetterRotations = rc.Rotations()
	}
	m.SendLatency = r.latency.snapshot()
	m.Rate = r.rate.perSecond()
	return m
}

// Close stops sending (an in-progress Send is cancelled; its records stay
// in the durable queue), writes and syncs the durable queue, so that the
// next run sends what is left, and closes the queue, the sink and the dead
// letter. Bounded by ctx.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.status.stop()
	r.cancel()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("bridge %s: close: %w", r.o.Name, ctx.Err())
	}
	err = errors.Join(err, r.disk.Close(), r.sink.Close())
	if err == nil {
		err = r.closeDedup()
	}
	if r.o.DeadLetter != nil {
		err = errors.Join(err, r.o.DeadLetter.Close())
	}
	return err
}

// warn logs at warn level at most once a second, at debug otherwise
// (logging.Limiter).
func (r *Runner) warn(m string, args ...any) {
	r.warnRate.Warn(r.log, m, args...)
}
