package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// Messages routed to a subscriber faster than the window (here each one
// PUBACKed before the next is sent, so each is routed before the next
// arrives) reach it whole and in order, in at most one deferred write: a
// connection's writer with a turn takes what comes meanwhile, so they may
// also all go out with a writer that was still busy (its SUBACK's) and
// none wait. With coalescing off nothing is deferred. The window is long
// (a second) so that every message certainly falls inside it.
func TestWriteCoalesce_messagesWithinTheWindowGoInOneWrite(t *testing.T) {
	for _, tc := range []struct {
		name        string
		window      time.Duration
		maxDeferred int64
	}{
		{"on", time.Second, 1},
		{"off", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 20
			srv, addr := testutil.StartBroker(t, func(o *broker.Options) { o.WriteCoalesce = tc.window })
			sub, _ := connectRaw(t, addr, "backend", nil) // its CONNACK starts the window
			sub.subscribe(1, packet.Subscription{Filter: "run/#"})
			pub, _ := connectRaw(t, addr, "device", nil)
			for i := range n {
				pub.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: "run/x", Payload: fmt.Appendf(nil, "m%d", i)})
				_, ok := pub.read().(*packet.Ack)
				require.True(t, ok, "PUBACK %d", i)
			}
			for i := range n {
				require.Equal(t, fmt.Sprintf("m%d", i), string(sub.readPublish().Payload), "message %d in order", i)
			}
			require.LessOrEqual(t, srv.DeferredWritesForTest(), tc.maxDeferred, "deferred writes")
		})
	}
}

// A client that sends its next packet only once it has the answer to the
// last (here one that publishes to itself and waits for its own message)
// would wait a window for every delivery: after one deferred write that
// found a single packet, the next 64 writes go out at once. This is also
// the test that coalescing happens at all: each delivery here starts a
// write of its own (the client sends the next message only once it has
// read the last), so the first one inside the window waits.
func TestWriteCoalesce_requestResponseIsDelayedOnceIn65(t *testing.T) {
	const n = 100
	srv, addr := testutil.StartBroker(t, func(o *broker.Options) { o.WriteCoalesce = time.Second })
	echo, _ := connectRaw(t, addr, "echo", nil)
	echo.subscribe(1, packet.Subscription{Filter: "rr/#"})
	for i := range n {
		echo.send(&packet.Publish{Topic: "rr/x", Payload: fmt.Appendf(nil, "m%d", i)})
		require.Equal(t, fmt.Sprintf("m%d", i), string(echo.readPublish().Payload), "message %d", i)
	}
	// The CONNACK was just written: delivery 1 (or 2, when the SUBACK's
	// writer took 1) waits and is alone; the next 64 writes go at once,
	// then one more may wait. (A delivery that finds the writer still busy
	// with the one before goes out with it and starts no write of its own,
	// so fewer than 100 writes may start.) Without the cooling nearly every
	// delivery would wait.
	deferred := srv.DeferredWritesForTest()
	require.GreaterOrEqual(t, deferred, int64(1), "deferred writes")
	require.LessOrEqual(t, deferred, int64(2), "deferred writes: once in 65 at most")
}
