package api

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistory_ratesAndRing(t *testing.T) {
	h := newHistory(3)
	t0 := time.Unix(1000, 0)
	h.add(t0, map[string]int64{"connections": 1}, map[string]uint64{"messages_in": 100})
	h.add(t0.Add(5*time.Second), map[string]int64{"connections": 2}, map[string]uint64{"messages_in": 150})
	h.add(t0.Add(10*time.Second), nil, map[string]uint64{"messages_in": 40}) // a counter reset: no rate
	h.add(t0.Add(15*time.Second), nil, map[string]uint64{"messages_in": 60})
	pts := h.since(time.Time{})
	require.Len(t, pts, 3, "the ring keeps the last 3")
	require.Equal(t, t0.Add(5*time.Second), pts[0].T, "oldest first")
	require.InDelta(t, 10.0, pts[0].Rates["messages_in"], 1e-9)
	require.NotContains(t, pts[1].Rates, "messages_in")
	require.InDelta(t, 4.0, pts[2].Rates["messages_in"], 1e-9)
	require.Len(t, h.since(t0.Add(10*time.Second)), 1)
}
