package bench

import (
	"encoding/binary"
	"math/bits"
	"time"
)

// stampMagic starts a payload that carries its send time: 4 bytes of magic,
// then the Unix time in nanoseconds, big-endian (StampLen bytes in all).
const stampMagic = "IOTB"

// StampLen is the size of the send-time header `bench pub` writes at the
// start of generated payloads; `bench sub` reads it to measure latency.
const StampLen = len(stampMagic) + 8

// stamp writes the send time at the start of payload (len ≥ StampLen).
func stamp(payload []byte, t time.Time) {
	copy(payload, stampMagic)
	binary.BigEndian.PutUint64(payload[len(stampMagic):], uint64(t.UnixNano()))
}

// stampOf returns the send time carried by payload, if any.
func stampOf(payload []byte) (time.Time, bool) {
	if len(payload) < StampLen || string(payload[:len(stampMagic)]) != stampMagic {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(payload[len(stampMagic):]))), true
}

// histogram is a log-linear histogram of durations in microseconds: exact
// below 32 µs, then 16 buckets per power of two (about 6% wide). Not safe
// for concurrent use: each client keeps its own and they are merged.
type histogram struct {
	counts [1024]uint64
	n      uint64
	max    int64
}

func bucketOf(us int64) int {
	if us < 32 {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 5
	return e*16 + int(us>>e)
}

// lowerBound returns the smallest value, in µs, of bucket i.
func lowerBound(i int) int64 {
	if i < 32 {
		return int64(i)
	}
	e := i/16 - 1
	return int64(i-e*16) << e
}

func (h *histogram) record(d time.Duration) {
	us := d.Microseconds()
	h.counts[bucketOf(us)]++
	h.n++
	h.max = max(h.max, us)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q ≤ 1) in microseconds, as the
// middle of its bucket.
func (h *histogram) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := lowerBound(i), lowerBound(i+1)
			return float64(lo+hi) / 2
		}
	}
	return float64(h.max)
}

// Latency summarises end-to-end latencies, in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func (h *histogram) summary() Latency {
	return Latency{Count: h.n, P50: h.quantile(0.5) / 1000, P90: h.quantile(0.9) / 1000,
		P99: h.quantile(0.99) / 1000, Max: float64(h.max) / 1000}
}
