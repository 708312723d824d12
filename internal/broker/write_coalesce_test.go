package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// A subscriber sent a run of messages faster than the window gets the
// first at once and the rest in one deferred write, whole and in order;
// with coalescing off nothing is deferred. The window is long (a second)
// so that the run certainly falls inside it.
func TestWriteCoalesce_runToOneSubscriber(t *testing.T) {
	for _, tc := range []struct {
		name     string
		window   time.Duration
		deferred int64
	}{
		{"on", time.Second, 1},
		{"off", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 20
			srv, addr := testutil.StartBroker(t, func(o *broker.Options) { o.WriteCoalesce = tc.window })
			sub, _ := connectRaw(t, addr, "backend", nil)
			sub.subscribe(1, packet.Subscription{Filter: "run/#"})
			pub, _ := connectRaw(t, addr, "device", nil)
			payloads := make([]string, n)
			for i := range payloads {
				payloads[i] = fmt.Sprintf("m%d", i)
			}
			pub.write(publishRun(t, "run/x", payloads...)) // one write: the hub reads the run at once
			for i := range n {
				require.Equal(t, fmt.Sprintf("m%d", i), string(sub.readPublish().Payload), "message %d in order", i)
			}
			require.Equal(t, tc.deferred, srv.DeferredWritesForTest(), "deferred writes")
		})
	}
}

// A client that sends its next packet only once it has the answer to the
// last (here one that publishes to itself and waits for its own message)
// would wait a window for every delivery: after one deferred write that
// found a single packet, the next 64 go out at once.
func TestWriteCoalesce_requestResponseIsDelayedOnceIn65(t *testing.T) {
	const n = 100
	srv, addr := testutil.StartBroker(t, func(o *broker.Options) { o.WriteCoalesce = 100 * time.Millisecond })
	echo, _ := connectRaw(t, addr, "echo", nil)
	echo.subscribe(1, packet.Subscription{Filter: "rr/#"})
	for i := range n {
		echo.send(&packet.Publish{Topic: "rr/x", Payload: fmt.Appendf(nil, "m%d", i)})
		require.Equal(t, fmt.Sprintf("m%d", i), string(echo.readPublish().Payload), "message %d", i)
	}
	// The SUBACK was just written: delivery 1 waits and is alone, 2-65 go
	// at once, 66 waits and is alone, 67-100 go at once.
	require.Equal(t, int64(2), srv.DeferredWritesForTest(), "deferred writes")
}

// A deferred write still pending when the hub shuts down does not outlive
// it badly: the connection is closed, the timer's write fails quietly.
func TestWriteCoalesce_shutdownWithWritePending(t *testing.T) {
	srv, addr := testutil.StartBroker(t, func(o *broker.Options) { o.WriteCoalesce = 300 * time.Millisecond })
	sub, _ := connectRaw(t, addr, "backend", nil)
	sub.subscribe(1, packet.Subscription{Filter: "late/#"})
	pub, _ := connectRaw(t, addr, "device", nil)
	// Two at once: they wait for the window the SUBACK started, together
	// (a deferred write that finds a single packet would cool the
	// connection down, and the next would go out at once).
	pub.write(publishRun(t, "late/x", "first", "second"))
	require.Equal(t, "first", string(sub.readPublish().Payload))
	require.Equal(t, "second", string(sub.readPublish().Payload))
	before := srv.DeferredWritesForTest()
	pub.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: "late/x", Payload: []byte("third")})
	_, ok := pub.read().(*packet.Ack)
	require.True(t, ok, "PUBACK: the message is routed, its delivery waits for the window")
	require.Equal(t, before, srv.DeferredWritesForTest(), "not yet written")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	require.Eventually(t, func() bool { return srv.DeferredWritesForTest() == before+1 }, 5*time.Second, 10*time.Millisecond,
		"the pending write ran after the shutdown")
}

// publishRun encodes QoS 0 v5 PUBLISHes of payloads to topic, back to back,
// for one socket write.
func publishRun(t *testing.T, topic string, payloads ...string) []byte {
	t.Helper()
	var run []byte
	for _, p := range payloads {
		var err error
		run, err = (&packet.Publish{Topic: topic, Payload: []byte(p)}).AppendTo(run, packet.V5)
		require.NoError(t, err)
	}
	return run
}
