package bridge

import (
	"errors"
	"math"
	"sync"
	"time"
)

// Connection states of Status.State.
const (
	// StateConnecting: started, no answer from the external system yet.
	StateConnecting = "connecting"
	// StateConnected: the last send or health check succeeded.
	StateConnected = "connected"
	// StateDisconnected: the last send or health check failed (LastError).
	StateDisconnected = "disconnected"
	// StateStopped: the runner is closed (or the bridge disabled).
	StateStopped = "stopped"
	// StateRebalancing: a consumer is joining its group, or the group is
	// moving partitions between members; nothing is consumed meanwhile.
	StateRebalancing = "rebalancing"
)

// ErrRebalancing is what a consumer reports (StatusReporter) while its
// group rebalances: the status reads rebalancing until it reports nil.
var ErrRebalancing = errors.New("bridge: consumer group rebalancing")

// Status is a bridge's connection state as the API shows it.
type Status struct {
	// State is connecting, connected, disconnected, rebalancing (a
	// consumer) or stopped.
	State string `json:"state"`
	// Since is when State last changed.
	Since time.Time `json:"since"`
	// LastError is the last send or health-check error ("" if none yet).
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when LastError happened.
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Drop reasons in Metrics.Dropped.
const (
	// DropBufferFull: the disk queue was full (drop_oldest dropped old
	// records, or refuse refused new ones).
	DropBufferFull = "buffer_full"
	// DropPermanent: the sink refused the record with a permanent error
	// and no dead letter took it.
	DropPermanent = "permanent"
	// DropDiskError: the disk queue could not be written or read.
	DropDiskError = "disk_error"
	// DropStopped: the bridge was stopped or disabled.
	DropStopped = "stopped"
	// DropEncoding: the record could not be rendered or decoded.
	DropEncoding = "encoding"
)

// Metrics is a snapshot of a sink runner's counters.
type Metrics struct {
	// Matched counts records offered to Enqueue.
	Matched uint64 `json:"matched"`
	// Queued is the number of records waiting to be sent (every one of
	// them is in the durable queue; the newest are cached in memory too).
	Queued int64 `json:"queued"`
	// QueuedDisk is the part of Queued that is only on disk (not cached
	// in memory): it is read back when its turn comes.
	QueuedDisk int64 `json:"queued_disk"`
	// InFlight is the number of records being sent now.
	InFlight int64 `json:"inflight"`
	// Sent counts records the sink acknowledged.
	Sent uint64 `json:"sent"`
	// Failed counts records the sink refused for good (each once):
	// dead-lettered or dropped.
	Failed uint64 `json:"failed"`
	// Retried counts records that had to be sent again after a retryable
	// failure (each once, however many attempts it took).
	Retried uint64 `json:"retried"`
	// DeadLettered counts the Failed records the dead letter took.
	DeadLettered uint64 `json:"dead_lettered"`
	// DeadLetterRotations counts the rotations of a dead-letter file
	// (it was full: the previous one became <file>.1).
	DeadLetterRotations uint64 `json:"dead_letter_rotations"`
	// Deduplicated counts records not queued or not sent because a copy
	// with the same identity (IDHeader) was queued, or the sink already
	// held it after a crash (a Recoverer sink).
	Deduplicated uint64 `json:"deduplicated"`
	// Rate is the records sent per second over the last 10 seconds.
	Rate float64 `json:"rate"`
	// Dropped counts records given up, by reason (buffer_full, permanent,
	// disk_error, stopped, encoding).
	Dropped map[string]uint64 `json:"dropped"`
	// BufferBytes is MemoryBytes + DiskBytes.
	BufferBytes int64 `json:"buffer_bytes"`
	// MemoryBytes is the approximate size of the records in memory.
	MemoryBytes int64 `json:"memory_bytes"`
	// DiskBytes is the size of the unsent records on disk.
	DiskBytes int64 `json:"disk_bytes"`
	// SendLatency summarises the duration of successful sends (one
	// sample per batch).
	SendLatency Latency `json:"send_latency"`
}

// Latency summarises durations in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	AvgMS float64 `json:"avg_ms"`
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
}

// histogram is a log-bucketed latency histogram (×1.25 per bucket from
// 50µs), good to a quarter for percentiles.
type histogram struct {
	mu      sync.Mutex
	buckets [80]uint64
	count   uint64
	sum     time.Duration
	max     time.Duration
}

const histBase = 50 * time.Microsecond

func (h *histogram) add(d time.Duration) {
	i := 0
	if d > histBase {
		i = min(int(math.Log(float64(d)/float64(histBase))/math.Log(1.25))+1, len(h.buckets)-1)
	}
	h.mu.Lock()
	h.buckets[i]++
	h.count++
	h.sum += d
	h.max = max(h.max, d)
	h.mu.Unlock()
}

func (h *histogram) snapshot() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count == 0 {
		return Latency{}
	}
	ms := func(d float64) float64 { return math.Round(d/1e3) / 1e3 }
	q := func(p float64) float64 {
		want := uint64(math.Ceil(p * float64(h.count)))
		var seen uint64
		for i, n := range h.buckets {
			seen += n
			if seen >= want {
				return min(float64(histBase)*math.Pow(1.25, float64(i)), float64(h.max))
			}
		}
		return float64(h.max)
	}
	return Latency{Count: h.count, AvgMS: ms(float64(h.sum) / float64(h.count)),
		P50MS: ms(q(0.5)), P99MS: ms(q(0.99)), MaxMS: ms(float64(h.max))}
}

// rateMeter keeps the sent counter of the last 11 one-second samples.
type rateMeter struct {
	mu      sync.Mutex
	samples [11]rateSample
	n, next int
}

type rateSample struct {
	at    time.Time
	count uint64
}

func (m *rateMeter) add(at time.Time, count uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples[m.next] = rateSample{at, count}
	m.next = (m.next + 1) % len(m.samples)
	m.n = min(m.n+1, len(m.samples))
}

// perSecond is the rate between the oldest and the newest sample.
func (m *rateMeter) perSecond() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n < 2 {
		return 0
	}
	newest := m.samples[(m.next+len(m.samples)-1)%len(m.samples)]
	oldest := m.samples[(m.next+len(m.samples)-m.n)%len(m.samples)]
	d := newest.at.Sub(oldest.at).Seconds()
	if d <= 0 {
		return 0
	}
	return math.Round(float64(newest.count-oldest.count)/d*10) / 10
}
