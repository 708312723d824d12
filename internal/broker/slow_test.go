package broker_test

import (
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

func TestSlow_subscriberThatNeverReads(t *testing.T) {
	const n, size = 300, 32 << 10 // 9.6 MB: more than any socket buffers hold
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.MaxPendingWrites = 8 })

	slow, _ := connectRaw(t, addr, "slow", nil)
	require.NoError(t, slow.conn.(*net.TCPConn).SetReadBuffer(4096))
	slow.subscribe(1, packet.Subscription{Filter: "slow/#"})
	// From here on the slow client never reads again.

	fast := connectV5(t, addr, "fast", nil)
	fast.subscribe(t, paho.SubscribeOptions{Topic: "slow/#", QoS: 1})
	pub := connectV5(t, addr, "pub", nil)
	payload := make([]byte, size)
	start := time.Now()
	for i := range n {
		payload[0] = byte(i)
		// Each publish waits for its PUBACK (5s timeout): a publisher
		// blocked by the slow subscriber would fail here.
		pub.publish(t, &paho.Publish{Topic: "slow/x", QoS: 1, Payload: payload})
		got := fast.next(t)
		require.Equal(t, byte(i), got.Payload[0], "the other subscriber gets every message, in order")
	}
	t.Logf("%d publishes of %d KiB in %v", n, size>>10, time.Since(start))
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Dropped["write_queue_full"] > 0 },
		"QoS 0 messages beyond MaxPendingWrites are dropped and counted")
	require.Equal(t, int64(3), s.Stats().Connections, "the slow connection is still open")
}
