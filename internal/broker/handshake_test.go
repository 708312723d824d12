package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// Connections that come one after another are all served by the one
// goroutine that served the first (handshake.go), which then waits for
// the next; Shutdown ends it.
func TestHandshake_goroutineServesTheNextConnection(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	const n = 5
	for i := range n {
		connectRaw(t, addr, fmt.Sprintf("hs-%d", i), nil)
		awaitParked(t, s, int64(i+1))
		testutil.Eventually(t, 10*time.Second, func() bool { return s.IdleHandshakersForTest() == 1 },
			fmt.Sprintf("after connection %d: one handshake goroutine waits", i))
	}
	require.Equal(t, 1, s.IdleHandshakersForTest())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
	testutil.Eventually(t, 10*time.Second, func() bool { return s.IdleHandshakersForTest() == 0 }, "none waits after Shutdown")
}
