package broker

import (
	"testing"

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
