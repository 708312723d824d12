package broker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReclaimDue(t *testing.T) {
	tests := []struct {
		name          string
		high, now     int
		wantHigh      int
		wantReclaimed bool
	}{
		{"more goroutines raise the mark", 100, 5000, 5000, false},
		{"a small drop waits", 5000, 5000 - reclaimDrop + 1, 5000, false},
		{"a drop of reclaimDrop reclaims and resets the mark", 5000, 5000 - reclaimDrop, 5000 - reclaimDrop, true},
		{"steady: nothing", 300, 300, 300, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			high, reclaimed := reclaimDue(tt.high, tt.now)
			require.Equal(t, tt.wantHigh, high)
			require.Equal(t, tt.wantReclaimed, reclaimed)
		})
	}
}

func TestReclaimer_burstEnd(t *testing.T) {
	const mib = 1 << 20
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		ticks []uint64 // bytes allocated during each tick
		want  []bool
	}{
		{"steady load never", []uint64{0, 40 * mib, 40 * mib, 40 * mib, 35 * mib}, []bool{false, false, false, false, false}},
		{"the end of a burst once", []uint64{0, 40 * mib, 1 * mib, 0, 0}, []bool{false, false, true, false, false}},
		{"a small burst is no burst", []uint64{0, 8 * mib, 0, 0}, []bool{false, false, false, false}},
		{"bursts back to back: at most one per gap", []uint64{0, 40 * mib, 0, 40 * mib, 0, 40 * mib, 0}, []bool{false, false, true, false, false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r reclaimer
			total := uint64(1)
			for i, n := range tt.ticks {
				total += n
				now := t0.Add(time.Duration(i) * reclaimEvery)
				require.Equal(t, tt.want[i], r.due(now, 10, total), "tick %d", i)
			}
		})
	}
}
