package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStatusKeeper: the one set of status rules of sink and source runners.
func TestStatusKeeper(t *testing.T) {
	dial := errors.New("dial tcp: connection refused")
	vague := fmt.Errorf("send: %w", context.DeadlineExceeded)
	type step struct {
		err       error
		from      outcome
		state     string
		lastError string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"connects", []step{{nil, fromSend, StateConnected, ""}}},
		{"a reported error explains a later timeout", []step{
			{dial, fromReport, StateDisconnected, dial.Error()},
			{vague, fromSend, StateDisconnected, dial.Error()},
			{nil, fromSend, StateConnected, dial.Error()},
		}},
		{"a timeout alone is the error", []step{{vague, fromSend, StateDisconnected, vague.Error()}}},
		{"a health check does not end a rebalance", []step{
			{ErrRebalancing, fromReport, StateRebalancing, ""},
			{nil, fromHealth, StateRebalancing, ""},
			{nil, fromReport, StateConnected, ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newStatusKeeper(slog.New(slog.DiscardHandler), time.Hour)
			require.Equal(t, StateConnecting, k.get().State)
			for i, s := range tc.steps {
				k.set(s.err, s.from)
				st := k.get()
				require.Equal(t, s.state, st.State, "step %d", i)
				require.Equal(t, s.lastError, st.LastError, "step %d", i)
			}
			k.stop()
			k.set(nil, fromSend)
			require.Equal(t, StateStopped, k.get().State, "nothing changes a stopped status")
		})
	}
}
