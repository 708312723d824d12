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

	mu       sync.Mutex
	mem      []Record // FIFO; empty whenever spill is set
	memBytes int64
	spill    bool // new records go to disk: the disk queue holds unsent ones
	closed   bool
	status   Status
	dropped  map[string]uint64

	wake     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	lastSend atomic.Int64 // unix nanos of the last send attempt
	lastWarn atomic.Int64

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
	r.spill = dq.Len() > 0
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
// records go to memory, or to the disk queue when memory is full or the
// sink is failing. It returns an error only for records it could not
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
	if !r.spill && len(r.mem)+len(recs) <= r.o.MemoryRecords && r.memBytes+size <= r.o.MemoryBytes {
		r.mem = append(r.mem, recs...)
		r.memBytes += size
		r.signal()
		return nil
	}
	if err := r.spillMemory(); err != nil {
		r.dropped[dropReason(err)] += uint64(len(recs))
		return err
	}
	if err := r.appendDisk(recs); err != nil {
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

// spillMemory moves the memory queue to disk and switches to spill mode.
// Called with r.mu held.
func (r *Runner) spillMemory() error {
	if r.spill {
		return nil
	}
	if err := r.appendDisk(r.mem); err != nil {
		return err
	}
	r.mem, r.memBytes, r.spill = nil, 0, true
	return nil
}

// appendDisk appends recs to the disk queue, counting what drop_oldest
// dropped. Called with r.mu held.
func (r *Runner) appendDisk(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	enc := make([][]byte, len(recs))
	for i := range recs {
		enc[i] = EncodeRecord(nil, &recs[i])
	}
	dropped, err := r.disk.Append(enc...)
	if dropped > 0 {
		r.dropped[DropBufferFull] += uint64(dropped)
		r.warn("bridge disk buffer full: oldest records dropped", "records", dropped)
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", r.o.Name, err)
	}
	return nil
}

// batch is what the sender works on.
type batch struct {
	recs     []Record
	fromDisk bool
	read     int // records read from disk (some may have been undecodable)
	pos      diskqueue.Position
}

// run is the sender goroutine.
func (r *Runner) run() {
	defer r.wg.Done()
	attempt := 0
	for {
		b, ok := r.next()
		if !ok {
			return
		}
		if len(b.recs) == 0 { // only undecodable records: skip them
			r.commit(b)
			continue
		}
		err := r.send(b.recs)
		switch {
		case err == nil:
			r.commit(b)
			attempt = 0
			continue
		case IsPermanent(err):
			r.commit(b)
			r.mu.Lock()
			r.dropped[DropPermanent] += uint64(len(b.recs))
			r.mu.Unlock()
			r.warn("bridge sink refused records", "records", len(b.recs), "error", err)
			continue
		}
		if !b.fromDisk {
			r.saveBatch(b.recs)
		}
		if r.ctx.Err() != nil {
			return
		}
		r.retried.Add(uint64(len(b.recs)))
		r.warn("bridge send failed, will retry", "records", len(b.recs), "error", err)
		if !r.sleep(backoff(attempt, r.o.RetryMin, r.o.RetryMax)) {
			return
		}
		attempt++
	}
}

// send calls the sink with the send timeout and records the outcome.
func (r *Runner) send(recs []Record) error {
	r.inflight.Store(int64(len(recs)))
	defer r.inflight.Store(0)
	start := time.Now()
	r.lastSend.Store(start.UnixNano())
	ctx, cancel := context.WithTimeout(r.ctx, r.o.SendTimeout)
	err := r.sink.Send(ctx, recs)
	if err == nil && ctx.Err() != nil && r.ctx.Err() == nil {
		err = fmt.Errorf("send timed out after %s: %w", r.o.SendTimeout, ctx.Err())
	}
	cancel()
	if err == nil {
		r.latency.add(time.Since(start))
		r.sent.Add(uint64(len(recs)))
		r.setStatus(nil)
		return nil
	}
	r.failed.Add(uint64(len(recs)))
	if errors.Is(err, context.DeadlineExceeded) && !IsPermanent(err) {
		err = fmt.Errorf("no answer within send_timeout %s: %w", r.o.SendTimeout, err)
	}
	if r.ctx.Err() == nil && !IsPermanent(err) {
		r.setStatus(err)
	}
	return err
}

// next returns the next batch: memory first, then disk. It waits for
// records and returns false when the runner stops.
func (r *Runner) next() (batch, bool) {
	for {
		r.mu.Lock()
		if len(r.mem) > 0 {
			b := r.takeMemory()
			r.mu.Unlock()
			return b, true
		}
		if r.spill {
			b, err := r.readDisk()
			if err == nil && b.read > 0 {
				r.mu.Unlock()
				return b, true
			}
			if err == nil {
				r.spill = false // the disk queue is empty
			}
			r.mu.Unlock()
			if err != nil {
				r.warn("bridge disk queue read failed", "error", err)
				if !r.sleep(r.o.RetryMax) {
					return batch{}, false
				}
			}
			continue
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-r.ctx.Done():
			return batch{}, false
		}
	}
}

// takeMemory takes a batch off the memory queue. Called with r.mu held.
func (r *Runner) takeMemory() batch {
	n, size := 0, 0
	for n < len(r.mem) && n < r.o.BatchSize && (n == 0 || size < r.o.BatchBytes) {
		size += r.mem[n].size()
		n++
	}
	recs := make([]Record, n)
	copy(recs, r.mem[:n])
	clear(r.mem[:n])
	r.mem = r.mem[n:]
	if len(r.mem) == 0 {
		r.mem = nil
	}
	r.memBytes -= int64(size)
	return batch{recs: recs}
}

// readDisk reads a batch from the disk queue; undecodable records are
// counted and skipped. b.read is 0 when the queue is empty. Called with
// r.mu held.
func (r *Runner) readDisk() (batch, error) {
	raw, pos, err := r.disk.Read(r.o.BatchSize, r.o.BatchBytes)
	if err != nil || len(raw) == 0 {
		return batch{}, err
	}
	b := batch{fromDisk: true, pos: pos, read: len(raw), recs: make([]Record, 0, len(raw))}
	for _, p := range raw {
		rec, err := DecodeRecord(p)
		if err != nil {
			r.dropped[DropEncoding]++
			continue
		}
		b.recs = append(b.recs, rec)
	}
	return b, nil
}

// commit drops a sent batch from the disk queue.
func (r *Runner) commit(b batch) {
	if !b.fromDisk {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.disk.Commit(b.pos); err != nil {
		r.warn("bridge disk queue commit failed (records may be sent again)", "error", err)
	}
}

// saveBatch puts a batch taken from memory that could not be sent at the
// head of the disk queue, and moves the memory queue after it.
func (r *Runner) saveBatch(recs []Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	enc := make([][]byte, len(recs))
	for i := range recs {
		enc[i] = EncodeRecord(nil, &recs[i])
	}
	if err := r.disk.Prepend(enc); err != nil {
		r.warn("bridge disk queue write failed: keeping the batch in memory", "error", err)
		r.mem = append(recs, r.mem...)
		for i := range recs {
			r.memBytes += int64(recs[i].size())
		}
		return
	}
	if err := r.spillMemory(); err != nil {
		r.warn("bridge disk queue write failed: keeping records in memory", "error", err)
		return
	}
	r.spill = true
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
	m := Metrics{Queued: int64(len(r.mem)), MemoryBytes: r.memBytes, Dropped: make(map[string]uint64, len(r.dropped))}
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
	if serr := r.spillMemory(); serr != nil {
		err = errors.Join(err, serr)
		r.dropped[DropStopped] += uint64(len(r.mem))
	}
	r.mu.Unlock()
	return errors.Join(err, r.disk.Close(), r.sink.Close())
}

// warn logs at warn level at most once a second, at debug otherwise.
func (r *Runner) warn(m string, args ...any) {
	now := time.Now().UnixNano()
	last := r.lastWarn.Load()
	if now-last >= int64(time.Second) && r.lastWarn.CompareAndSwap(last, now) {
		r.log.Warn(m, args...)
		return
	}
	r.log.Debug(m, args...)
}
