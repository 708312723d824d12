package app

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConnectionRoom: the MQTT connections an open-files limit leaves
// once the reserve is kept (a quarter, at most 512); no cap for a limit
// that is no real bound.
func TestConnectionRoom(t *testing.T) {
	tests := []struct {
		limit uint64
		want  int64
	}{
		{400, 300},
		{1024, 768},
		{20000, 19488},
		{1 << 20, 1<<20 - 512},
		{math.MaxUint64, 0},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, connectionRoom(tc.limit), "limit %d", tc.limit)
	}
}
