package netpoll

import (
	"testing"

	"github.com/stretchr/testify/require"
)

type testWaker int

func (testWaker) Wake() {}

// TestFDTable checks the armed table: set, get, take, the count, growth
// that keeps what was armed, and descriptors out of range.
func TestFDTable(t *testing.T) {
	var tb fdTable[testWaker]
	require.Zero(t, tb.get(5), "empty table")
	_, ok := tb.take(-1)
	require.False(t, ok, "negative descriptor")
	tb.set(-1, testWaker(9))
	require.Zero(t, tb.n, "negative descriptor not armed")

	tb.set(3, testWaker(1))
	tb.set(3000, testWaker(2)) // grows past the first step
	tb.set(3, testWaker(3))    // re-arming replaces, counts once
	require.Equal(t, 2, tb.n)
	require.Equal(t, testWaker(3), tb.get(3))
	require.Equal(t, testWaker(2), tb.get(3000))
	require.Zero(t, len(tb.w)%fdTableStep, "grown by whole steps")

	w, ok := tb.take(3000)
	require.True(t, ok)
	require.Equal(t, testWaker(2), w)
	_, ok = tb.take(3000)
	require.False(t, ok, "taken once")
	require.Zero(t, tb.get(1<<20), "beyond the table")
	require.Equal(t, 1, tb.n)
	w, ok = tb.take(3)
	require.True(t, ok)
	require.Equal(t, testWaker(3), w)
	require.Zero(t, tb.n)
}
