package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge/diskqueue"
)

// fakeSink records what it is sent; while down it fails (or, hanging,
// blocks until the send's context ends).
type fakeSink struct {
	mu      sync.Mutex
	down    bool
	hang    bool
	perm    bool
	got     []string
	changed chan struct{}
}

func newFakeSink() *fakeSink { return &fakeSink{changed: make(chan struct{}, 1)} }

func (s *fakeSink) Send(ctx context.Context, recs []Record) error {
	s.mu.Lock()
	down, hang, perm := s.down, s.hang, s.perm
	s.mu.Unlock()
	switch {
	case hang:
		<-ctx.Done()
		return ctx.Err()
	case perm:
		return Permanent(errors.New("record too large"))
	case down:
		return errors.New("connection refused")
	}
	s.mu.Lock()
	for _, r := range recs {
		s.got = append(s.got, string(r.Value))
	}
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

func (s *fakeSink) Close() error { return nil }

func (s *fakeSink) set(f func(*fakeSink)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *fakeSink) waitFor(t *testing.T, n int) []string {
	t.Helper()
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.got) >= n
	}, 30*time.Second, time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func numbered(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

func enqueue(t *testing.T, r *Runner, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		require.NoError(t, r.Enqueue(Record{Topic: "t", Key: []byte("k"), Value: []byte(strconv.Itoa(i)), Time: time.UnixMilli(int64(i))}))
	}
}

func testOptions(dir string) Options {
	return Options{Name: "test", Dir: dir, Logger: slog.New(slog.DiscardHandler), BatchSize: 7, MemoryRecords: 20, SendTimeout: 200 * time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond}
}

func TestRunner_outageKeepsOrder(t *testing.T) {
	tests := []struct {
		name string
		down func(*fakeSink)
	}{
		{"failing", func(s *fakeSink) { s.down = true }},
		{"hanging", func(s *fakeSink) { s.hang = true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := newFakeSink()
			r, err := NewRunner(sink, testOptions(t.TempDir()))
			require.NoError(t, err)
			r.Start()
			defer r.Close(context.Background())
			enqueue(t, r, 0, 10)
			sink.waitFor(t, 10)
			sink.set(tc.down)
			enqueue(t, r, 10, 200)
			require.Eventually(t, func() bool {
				m := r.Metrics()
				return m.Queued+m.InFlight == 190 && m.QueuedDisk > 0 && r.Status().State == StateDisconnected
			}, 30*time.Second, time.Millisecond)
			sink.set(func(s *fakeSink) { s.down, s.hang = false, false })
			require.Equal(t, numbered(0, 200), sink.waitFor(t, 200))
			require.Eventually(t, func() bool { return r.Metrics().Queued == 0 }, 30*time.Second, time.Millisecond)
			enqueue(t, r, 200, 210) // back to memory
			require.Equal(t, numbered(0, 210), sink.waitFor(t, 210))
			m := r.Metrics()
			require.EqualValues(t, 210, m.Matched)
			require.EqualValues(t, 210, m.Sent)
			require.Equal(t, StateConnected, r.Status().State)
		})
	}
}

func TestRunner_restartResumesFromDisk(t *testing.T) {
	dir := t.TempDir()
	sink := newFakeSink()
	sink.down = true
	r, err := NewRunner(sink, testOptions(dir))
	require.NoError(t, err)
	r.Start()
	enqueue(t, r, 0, 50)
	require.NoError(t, r.Close(context.Background()))

	sink2 := newFakeSink()
	r2, err := NewRunner(sink2, testOptions(dir))
	require.NoError(t, err)
	require.EqualValues(t, 50, r2.Metrics().Queued)
	r2.Start()
	defer r2.Close(context.Background())
	enqueue(t, r2, 50, 60)
	require.Equal(t, numbered(0, 60), sink2.waitFor(t, 60))
}

func TestRunner_permanentErrorDrops(t *testing.T) {
	sink := newFakeSink()
	sink.perm = true
	r, err := NewRunner(sink, testOptions(t.TempDir()))
	require.NoError(t, err)
	r.Start()
	defer r.Close(context.Background())
	enqueue(t, r, 0, 5)
	require.Eventually(t, func() bool { return r.Metrics().Dropped[DropPermanent] == 5 }, 30*time.Second, time.Millisecond)
	require.EqualValues(t, 0, r.Metrics().Queued)
}

// batchSink refuses some records for good, fails others once (retryable)
// and delivers the rest, reporting each record's fate in a *BatchError.
type batchSink struct {
	*fakeSink
	attempts map[string]int
}

func (s *batchSink) Send(_ context.Context, recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := make([]error, len(recs))
	for i, r := range recs {
		v := string(r.Value)
		s.attempts[v]++
		n, _ := strconv.Atoi(v)
		switch {
		case n%10 == 3:
			errs[i] = Permanent(errors.New("unknown topic " + v))
		case n%10 == 5 && s.attempts[v] == 1:
			errs[i] = errors.New("leader not available")
		default:
			s.got = append(s.got, v)
		}
	}
	return &BatchError{Errs: errs}
}

// TestRunner_perRecordRetryAndDeadLetter: only the records that failed
// with a retryable error are sent again (once more here), those refused
// for good go to the dead-letter file, the bridge moves on, and the
// counters count records, not attempts.
func TestRunner_perRecordRetryAndDeadLetter(t *testing.T) {
	dir := t.TempDir()
	sink := &batchSink{fakeSink: newFakeSink(), attempts: map[string]int{}}
	dl, err := NewFileDeadLetter("test", filepath.Join(dir, "dead.jsonl"), 0, nil)
	require.NoError(t, err)
	o := testOptions(filepath.Join(dir, "q"))
	o.DeadLetter = dl
	r, err := NewRunner(sink, o)
	require.NoError(t, err)
	r.Start()
	defer r.Close(context.Background())
	enqueue(t, r, 0, 100)
	got := sink.waitFor(t, 90)
	require.Len(t, got, 90, "every record but the refused ones, each once")
	require.Eventually(t, func() bool { return r.Metrics().Queued == 0 && r.Metrics().InFlight == 0 }, 30*time.Second, time.Millisecond)
	sink.mu.Lock()
	for v, n := range sink.attempts {
		k, _ := strconv.Atoi(v)
		want := map[bool]int{true: 2, false: 1}[k%10 == 5]
		require.Equal(t, want, n, "record %s attempts", v)
	}
	sink.mu.Unlock()
	m := r.Metrics()
	require.EqualValues(t, 90, m.Sent)
	require.EqualValues(t, 10, m.Failed)
	require.EqualValues(t, 10, m.DeadLettered)
	require.EqualValues(t, 10, m.Retried)
	require.Zero(t, m.Dropped[DropPermanent])
	b, err := os.ReadFile(filepath.Join(dir, "dead.jsonl"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 10)
	var d DeadRecord
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &d))
	require.Equal(t, DeadRecord{Bridge: "test", Time: d.Time, Error: "unknown topic 3", Topic: "t", Key: "k", Value: "3", Timestamp: 3}, d)
}

// TestRunner_syncedRecordsSurviveACrash: records are in the durable queue
// once Sync returned, before any send, and a runner opened on the same
// directory without the first having been closed (a kill -9) sends them.
func TestRunner_syncedRecordsSurviveACrash(t *testing.T) {
	dir := t.TempDir()
	sink := newFakeSink()
	sink.hang = true
	o := testOptions(dir)
	o.RequestSync = func() {} // the owner syncs: here, the test
	r, err := NewRunner(sink, o)
	require.NoError(t, err)
	r.Start()
	enqueue(t, r, 0, 30)
	require.NoError(t, r.Sync(true))
	r.cancel() // the first runner dies without writing anything more

	sink2 := newFakeSink()
	r2, err := NewRunner(sink2, testOptions(dir))
	require.NoError(t, err)
	r2.Start()
	defer r2.Close(context.Background())
	require.Equal(t, numbered(0, 30), sink2.waitFor(t, 30))
}

func TestRunner_closedRefuses(t *testing.T) {
	r, err := NewRunner(newFakeSink(), testOptions(t.TempDir()))
	require.NoError(t, err)
	require.NoError(t, r.Close(context.Background()))
	require.ErrorIs(t, r.Enqueue(Record{}), ErrStopped)
	require.EqualValues(t, 1, r.Metrics().Dropped[DropStopped])
}

// pipeSink is a Pipeliner: each pipeline delivers its sends in order
// from a goroutine; the first failAt sends of the sink's life fail (and
// break their pipeline, as Kafka's does).
type pipeSink struct {
	*fakeSink
	mu2    sync.Mutex
	sends  int
	failAt map[int]bool
}

func (s *pipeSink) Pipeline() (Pipeline, error) {
	p := &fakePipe{s: s, work: make(chan func(), 64), stop: make(chan struct{})}
	go p.loop()
	return p, nil
}

type fakePipe struct {
	s      *pipeSink
	work   chan func()
	stop   chan struct{}
	once   sync.Once
	broken bool // only touched by loop
}

func (p *fakePipe) loop() {
	for {
		select {
		case f := <-p.work:
			f()
		case <-p.stop:
			for {
				select {
				case f := <-p.work:
					f()
				default:
					return
				}
			}
		}
	}
}

func (p *fakePipe) Send(_ context.Context, recs []Record, done func(error)) {
	p.s.mu2.Lock()
	n := p.s.sends
	p.s.sends++
	fail := p.s.failAt[n]
	p.s.mu2.Unlock()
	p.work <- func() {
		select {
		case <-p.stop:
			p.broken = true
		default:
		}
		p.s.mu.Lock()
		hang := p.s.hang
		p.s.mu.Unlock()
		if hang { // no answer until aborted
			<-p.stop
			p.broken = true
		}
		if fail || p.broken {
			p.broken = true
			done(errors.New("broker gone"))
			return
		}
		done(p.s.fakeSink.Send(context.Background(), recs))
	}
}

func (p *fakePipe) Flush() {}

func (p *fakePipe) Abort() { p.once.Do(func() { close(p.stop) }) }

// firstArrivals returns got without repeats, keeping first occurrences.
func firstArrivals(got []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range got {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func TestRunner_pipelineFailureKeepsOrder(t *testing.T) {
	tests := []struct {
		name   string
		failAt []int
	}{
		{"no failure", nil},
		{"first send fails", []int{0}},
		{"mid-window failures", []int{3, 4, 9, 17}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &pipeSink{fakeSink: newFakeSink(), failAt: map[int]bool{}}
			for _, n := range tc.failAt {
				sink.failAt[n] = true
			}
			o := testOptions(t.TempDir())
			o.MaxInflightBatches = 3
			r, err := NewRunner(sink, o)
			require.NoError(t, err)
			r.Start()
			defer r.Close(context.Background())
			enqueue(t, r, 0, 300) // overflows memory (20): disk and memory batches
			sink.waitFor(t, 300)
			require.Eventually(t, func() bool { return len(firstArrivals(sink.waitFor(t, 0))) == 300 }, 30*time.Second, time.Millisecond)
			require.Equal(t, numbered(0, 300), firstArrivals(sink.waitFor(t, 0)))
			require.Eventually(t, func() bool { return r.Metrics().Queued == 0 && r.Metrics().InFlight == 0 }, 30*time.Second, time.Millisecond)
		})
	}
}

func TestRunner_pipelineRestartKeepsOrder(t *testing.T) {
	dir := t.TempDir()
	sink := &pipeSink{fakeSink: newFakeSink(), failAt: map[int]bool{}}
	sink.hang = true // sends never answered: Close must put them back
	o := testOptions(dir)
	o.MaxInflightBatches = 3
	o.SendTimeout = time.Minute
	r, err := NewRunner(sink, o)
	require.NoError(t, err)
	r.Start()
	enqueue(t, r, 0, 50)
	require.Eventually(t, func() bool { return r.Metrics().InFlight > 0 }, 30*time.Second, time.Millisecond)
	require.NoError(t, r.Close(context.Background()))

	sink2 := &pipeSink{fakeSink: newFakeSink(), failAt: map[int]bool{}}
	r2, err := NewRunner(sink2, o)
	require.NoError(t, err)
	require.EqualValues(t, 50, r2.Metrics().Queued)
	r2.Start()
	defer r2.Close(context.Background())
	enqueue(t, r2, 50, 60)
	require.Equal(t, numbered(0, 60), firstArrivals(sink2.waitFor(t, 60)))
}

// TestRunner_dropOldestWhileDown: with the sink down and the durable
// queue bounded, drop_oldest drops the oldest records (counted); when the
// sink is back the rest arrives in order, each once, memory cache
// included.
func TestRunner_dropOldestWhileDown(t *testing.T) {
	sink := newFakeSink()
	sink.down = true
	o := testOptions(t.TempDir())
	o.Disk = diskqueue.Options{MaxBytes: 60 * 40, SegmentBytes: 600}
	r, err := NewRunner(sink, o)
	require.NoError(t, err)
	r.Start()
	defer r.Close(context.Background())
	enqueue(t, r, 0, 200)
	dropped := r.Metrics().Dropped[DropBufferFull]
	require.Positive(t, dropped)
	sink.set(func(s *fakeSink) { s.down = false })
	require.Eventually(t, func() bool { return r.Metrics().Queued == 0 && r.Metrics().InFlight == 0 }, 30*time.Second, time.Millisecond)
	got := sink.waitFor(t, 0)
	require.Equal(t, got, firstArrivals(got), "each record once")
	require.Equal(t, "199", got[len(got)-1])
	for i := 1; i < len(got); i++ {
		a, _ := strconv.Atoi(got[i-1])
		b, _ := strconv.Atoi(got[i])
		require.Less(t, a, b, "in order")
	}
}
