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
		{"a small burst is no burst", []uint64{0, 2 * mib, 0, 0}, []bool{false, false, false, false}},
		{"bursts back to back: at most one per gap", []uint64{0, 40 * mib, 0, 40 * mib, 0, 40 * mib, 0}, []bool{false, false, true, false, false, false, false}},
		{"a dip inside a burst does not hide its end", []uint64{0, 40 * mib, 2 * mib, 40 * mib, 40 * mib, 0, 0, 0, 0}, []bool{false, false, true, false, false, false, false, true, false}},
		{"a burst in slow ticks", []uint64{0, 3 * mib, 5 * mib, 3 * mib, 0, 0}, []bool{false, false, false, false, true, false}},
		{"once more after the follow-up delay, if quiet", append([]uint64{0, 40 * mib}, make([]uint64, 19)...),
			followedUp(21, 2, 2+followUpTicks)},
		{"no follow-up amid a new burst", append(append([]uint64{0, 40 * mib}, make([]uint64, followUpTicks)...), 40*mib, 40*mib, 0, 0),
			followedUp(2+followUpTicks+4, 2, 2+followUpTicks+2)},
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

// followUpTicks is reclaimFollowUp in ticks.
const followUpTicks = int(reclaimFollowUp / reclaimEvery)

// followedUp is n ticks' expectations, true at the ticks given.
func followedUp(n int, at ...int) []bool {
	want := make([]bool, n)
	for _, i := range at {
		want[i] = true
	}
	return want
}

func TestKAWheel(t *testing.T) {
	base := time.Unix(1000, 0)
	at := func(ticks float64) time.Time { return base.Add(time.Duration(ticks * float64(kaTick))) }
	tests := []struct {
		name      string
		deadlines []float64 // kaTicks after base, one connection each
		removed   []int     // connections taken out before the ticks
		ticks     []float64 // when expire runs (kaTicks after base)
		want      [][]int   // connections due at each tick
	}{
		{"never before the deadline", []float64{10.5}, nil, []float64{9, 10, 10.4, 11, 12}, [][]int{nil, nil, nil, {0}, nil}},
		{"a slot holds several", []float64{5, 5, 4.2}, nil, []float64{4, 5}, [][]int{nil, {0, 1, 2}}},
		{"removed ones never", []float64{5, 5, 5}, []int{1}, []float64{6}, [][]int{{0, 2}}},
		{"a late tick catches up", []float64{3, 7, 20}, nil, []float64{1, 9, 30}, [][]int{nil, {0, 1}, {2}}},
		{"a later turn of the wheel waits", []float64{4, 4 + kaSlots}, nil, []float64{5, 5 + kaSlots}, [][]int{{0}, {1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newKAWheel(base)
			conns := make([]*conn, len(tt.deadlines))
			for i, d := range tt.deadlines {
				conns[i] = &conn{}
				conns[i].park.kaAt = monoOf(at(d))
				require.True(t, w.fits(conns[i].park.kaDeadline(), base))
				w.add(conns[i])
			}
			for _, i := range tt.removed {
				w.remove(conns[i])
				w.remove(conns[i]) // twice: no harm
			}
			for k, tick := range tt.ticks {
				var got []int
				for _, c := range w.expire(at(tick), nil) {
					for i := range conns {
						if conns[i] == c {
							got = append(got, i)
						}
					}
				}
				require.ElementsMatch(t, tt.want[k], got, "tick at %v", tick)
			}
			require.Zero(t, w.len())
		})
	}
}

func TestKAWheel_tooSoonDoesNotFit(t *testing.T) {
	now := time.Unix(1000, 0)
	w := newKAWheel(now)
	require.False(t, w.fits(now.Add(kaTick), now))
	require.True(t, w.fits(now.Add(2*kaTick), now))
}
