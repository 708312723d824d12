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
	ihlog "github.com/iothub-dev/iothub/internal/log"
)

// ErrStopped is returned by Enqueue after Close.
var ErrStopped = errors.New("bridge: stopped")

// Options configure a Runner; zero values take the defaults.
type Options struct {
	// Name names the bridge in logs.
	Name string
	// Dir is the disk queue's directory (<data_dir>/bridges/<name>).
	Dir string
	// Logger receives the runner's logs (default slog.Default()).
	Logger *slog.Logger
	// BatchSize is the most records per Send (default 500).
	BatchSize int
	// BatchBytes is about the most payload bytes per Send (default 4 MiB).
	BatchBytes int
	// MemoryRecords bounds the memory queue (default 10000); beyond it
	// records go to disk.
	MemoryRecords int
	// MaxInflightBatches bounds the batches sent and not yet acknowledged
	// when the sink is a Pipeliner (default 4); other sinks have one.
	MaxInflightBatches int
	// MemoryBytes bounds the memory queue's bytes (default 32 MiB).
	MemoryBytes int64
	// SendTimeout bounds one Send (default 10s): a sink that does not
	// answer in time (a hanging server) counts as failing, and its
	// records go to disk.
	SendTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between retries (defaults
	// 200ms and 30s); each wait is doubled, then jittered by ±20%.
	RetryMin, RetryMax time.Duration
	// HealthInterval is how often an idle runner checks a HealthChecker
	// sink (default 15s).
	HealthInterval time.Duration
	// Disk configures the disk queue.
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

	// The queue, oldest first: retry, then the disk queue, then mem.
	mu       sync.Mutex
	retry    []Record // records of failed sends that could not be put back on disk
	mem      recQueue // the tail; empty whenever through is set
	memBytes int64
	through  bool // the sink is failing: new records go straight to disk
	closed   bool
	status   Status
	dropped  map[string]uint64

	wake     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	lastSend atomic.Int64 // unix nanos of the last send attempt
	warnRate ihlog.Limiter

	matched, sent, failed, retried atomic.Uint64
	inflight                       atomic.Int64
	latency                        histogram
}

// NewRunner opens the disk queue in o.Dir and returns a runner for sink;
// Start starts sending. Records left on disk by an earlier run are sent
// first.
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
	r := &Runner{o: o, sink: sink, log: o.Logger.With("bridge", o.Name), disk: dq,
		dropped: map[string]uint64{}, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
		status: Status{State: StateConnecting, Since: time.Now()}}
	return r, nil
}

// Start starts the sender (and the health checks of a HealthChecker sink).
func (r *Runner) Start() {
	r.wg.Add(1)
	go r.run()
	if hc, ok := r.sink.(HealthChecker); ok {
		r.wg.Add(1)
		go r.healthLoop(hc)
	}
	if n := r.disk.Len(); n > 0 {
		r.log.Info("bridge resuming with records queued on disk", "records", n, "bytes", r.disk.Bytes())
	}
}

// Enqueue queues recs for sending, in order. It never waits for the sink:
// records go to memory; when memory is full, the memory queue and recs
// are appended to the disk queue in one write (memory then fills again:
// it is always the newest part of the queue); while the sink is failing,
// records go straight to disk. It returns an error only for records it could not
// queue (counted in Metrics().Dropped): ErrStopped, diskqueue.ErrFull
// under the refuse policy, or a disk error.
func (r *Runner) Enqueue(recs ...Record) error {
	r.matched.Add(uint64(len(recs)))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		r.dropped[DropStopped] += uint64(len(recs))
		return ErrStopped
	}
	size := int64(0)
	for i := range recs {
		size += int64(recs[i].size())
	}
	if !r.through && !r.fits(len(recs), size) {
		// Memory is full: its oldest eighth goes to disk, in one write
		// (a larger write would hold up the sender's disk reads).
		if err := r.spillOldest(max(r.mem.len()/8, r.mem.len()+len(recs)-r.o.MemoryRecords)); err != nil {
			r.dropped[dropReason(err)] += uint64(len(recs))
			return err
		}
	}
	if !r.through && r.fits(len(recs), size) {
		r.mem.push(recs...)
		r.memBytes += size
		r.signal()
		return nil
	}
	if err := r.spillMemory(); err != nil {
		r.dropped[dropReason(err)] += uint64(len(recs))
		return err
	}
	if err := r.appendDisk(len(recs), func(f func(*Record)) {
		for i := range recs {
			f(&recs[i])
		}
	}); err != nil {
		r.dropped[dropReason(err)] += uint64(len(recs))
		r.warn("bridge buffer: records dropped", "records", len(recs), "error", err)
		return err
	}
	r.signal()
	return nil
}

func dropReason(err error) string {
	if errors.Is(err, diskqueue.ErrFull) || errors.Is(err, diskqueue.ErrTooLarge) {
		return DropBufferFull
	}
	return DropDiskError
}

func (r *Runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// fits reports whether n records of size bytes fit in the memory queue.
// Called with r.mu held.
func (r *Runner) fits(n int, size int64) bool {
	return r.mem.len()+n <= r.o.MemoryRecords && r.memBytes+size <= r.o.MemoryBytes
}

// spillMemory appends the memory queue to the disk queue, in one write.
// Called with r.mu held.
func (r *Runner) spillMemory() error {
	return r.spillOldest(r.mem.len())
}

// spillOldest appends the oldest n records of the memory queue to the
// disk queue, in one write: the memory queue stays newer than the disk
// queue. Called with r.mu held.
func (r *Runner) spillOldest(n int) error {
	n = min(n, r.mem.len())
	if n <= 0 {
		return nil
	}
	if err := r.appendDisk(n, func(f func(*Record)) { r.mem.eachN(n, f) }); err != nil {
		return err
	}
	r.memBytes -= int64(r.mem.discard(n))
	return nil
}

// encodeAll encodes the n records that each yields, in one buffer.
func encodeAll(n int, each func(func(*Record))) [][]byte {
	enc := make([][]byte, 0, n)
	var buf []byte
	each(func(rec *Record) {
		if cap(buf)-len(buf) < rec.size() {
			buf = make([]byte, 0, max(64<<10, 2*rec.size()))
		}
		start := len(buf)
		buf = EncodeRecord(buf, rec)
		enc = append(enc, buf[start:len(buf):len(buf)])
	})
	return enc
}

// appendDisk appends the n records that each yields to the disk queue, in
// one write, counting what drop_oldest dropped. Called with r.mu held.
func (r *Runner) appendDisk(n int, each func(func(*Record))) error {
	if n == 0 {
		return nil
	}
	dropped, err := r.disk.Append(encodeAll(n, each)...)
	if dropped > 0 {
		r.dropped[DropBufferFull] += uint64(dropped)
		r.warn("bridge disk buffer full: oldest records dropped", "records", dropped)
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", r.o.Name, err)
	}
	return nil
}

// sleep waits d or until the runner stops (false).
func (r *Runner) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
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

// healthLoop checks the sink at start and whenever no send happened for
// HealthInterval.
func (r *Runner) healthLoop(hc HealthChecker) {
	defer r.wg.Done()
	check := func() {
		ctx, cancel := context.WithTimeout(r.ctx, r.o.SendTimeout)
		err := hc.Health(ctx)
		cancel()
		if r.ctx.Err() == nil {
			r.setStatus(err)
		}
	}
	check()
	t := time.NewTicker(r.o.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			if time.Since(time.Unix(0, r.lastSend.Load())) >= r.o.HealthInterval && r.inflight.Load() == 0 {
				check()
			}
		}
	}
}

// setStatus records a send or health outcome.
func (r *Runner) setStatus(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	now := time.Now()
	state := StateConnected
	if err != nil {
		state = StateDisconnected
		r.status.LastError, r.status.LastErrorAt = err.Error(), now
	}
	if state != r.status.State {
		r.status.State, r.status.Since = state, now
		if err != nil {
			r.log.Warn("bridge disconnected", "error", err)
		} else {
			r.log.Info("bridge connected")
		}
	}
}

// Status returns the connection state.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Metrics returns a snapshot of the counters.
func (r *Runner) Metrics() Metrics {
	r.mu.Lock()
	m := Metrics{Queued: int64(r.mem.len() + len(r.retry)), MemoryBytes: r.memBytes, Dropped: make(map[string]uint64, len(r.dropped))}
	for k, v := range r.dropped {
		m.Dropped[k] = v
	}
	r.mu.Unlock()
	m.QueuedDisk, m.DiskBytes = r.disk.Len(), r.disk.Bytes()
	m.Queued += m.QueuedDisk
	m.BufferBytes = m.MemoryBytes + m.DiskBytes
	m.Matched, m.Sent, m.Failed, m.Retried = r.matched.Load(), r.sent.Load(), r.failed.Load(), r.retried.Load()
	m.InFlight = r.inflight.Load()
	m.SendLatency = r.latency.snapshot()
	return m
}

// Close stops sending (an in-progress Send is cancelled and its batch
// kept), writes the memory queue to disk so that the next run sends it,
// and closes the disk queue and the sink. Bounded by ctx.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.status = Status{State: StateStopped, Since: time.Now(), LastError: r.status.LastError, LastErrorAt: r.status.LastErrorAt}
	r.mu.Unlock()
	r.cancel()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("bridge %s: close: %w", r.o.Name, ctx.Err())
	}
	r.mu.Lock()
	if serr := r.prependRetry(); serr != nil {
		err = errors.Join(err, serr)
		r.dropped[DropStopped] += uint64(len(r.retry))
	}
	if serr := r.spillMemory(); serr != nil {
		err = errors.Join(err, serr)
		r.dropped[DropStopped] += uint64(r.mem.len())
	}
	r.mu.Unlock()
	return errors.Join(err, r.disk.Close(), r.sink.Close())
}

// warn logs at warn level at most once a second, at debug otherwise
// (internal/log.Limiter).
func (r *Runner) warn(m string, args ...any) {
	r.warnRate.Warn(r.log, m, args...)
}
