package broker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAuthContexts checks that authentications within authCtxShare share
// one context, a later one gets a new context, and every authentication
// has at least the timeout before its deadline.
func TestAuthContexts(t *testing.T) {
	const timeout = 10 * time.Second
	var a authContexts
	t0 := time.Now()
	for _, tc := range []struct {
		name  string
		after time.Duration
		same  bool // the same context as the previous step's
	}{
		{"first", 0, false},
		{"within the share", authCtxShare / 2, true},
		{"last instant of the share", authCtxShare - time.Nanosecond, true},
		{"share over", authCtxShare, false},
		{"next share", authCtxShare + authCtxShare/2, true},
		{"much later", 5 * authCtxShare, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := a.ctx
			now := t0.Add(tc.after)
			ctx := a.at(now, timeout)
			require.Equal(t, tc.same, prev == ctx, "shared with the previous step's")
			deadline, ok := ctx.Deadline()
			require.True(t, ok)
			require.GreaterOrEqual(t, deadline.Sub(now), timeout)
			require.LessOrEqual(t, deadline.Sub(now), timeout+authCtxShare)
		})
	}
}
