package broker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

func ping(t *testing.T, rc *rawClient) {
	t.Helper()
	rc.send(&packet.Pingreq{})
	require.IsType(t, &packet.Pingresp{}, rc.read())
}

func TestKeepAlive_enforcedAtOneAndAHalf(t *testing.T) {
	t.Parallel()
	s, addr := testutil.StartBroker(t, nil)
	ev := recordEvents(t, s)
	start := time.Now()
	rc, _ := connectRaw(t, addr, "idle", func(cp *packet.Connect) { cp.KeepAlive = 1 })
	d := rc.closed()
	require.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond, "not before 1.5 × keep alive")
	require.NotNil(t, d)
	require.Equal(t, packet.KeepAliveTimeout, d.ReasonCode)
	require.Equal(t, "keepalive_timeout", ev.wait(t, msg.EventClientDisconnected, "idle").Reason)
}

func TestKeepAlive_pingsBetweenOneAndOneAndAHalfKeepAlive(t *testing.T) {
	t.Parallel()
	_, addr := testutil.StartBroker(t, nil)
	const keepAlive, due = 4 * time.Second, 6 * time.Second // due: 1.5 × keep alive
	// Two pings on the client's own schedule, each 5 s after the packet
	// before: later than the keep alive, sooner than due. The hub's clock
	// for a ping starts when it read the packet before, no sooner than the
	// client sent it; a ping this process sent less than due after that
	// must be answered. A ping sent later (the machine too loaded to wake
	// the test in time) judges nothing: the round starts again on a new
	// connection.
	pings, rounds := 0, 0
	for pings < 2 {
		rounds++
		require.LessOrEqual(t, rounds, 10, "the test never woke within %v of its last packet", due)
		last := time.Now()
		rc, _ := connectRaw(t, addr, "pinger", func(cp *packet.Connect) { cp.KeepAlive = uint16(keepAlive / time.Second) })
		for pings < 2 {
			time.Sleep(time.Until(last.Add(keepAlive + keepAlive/4)))
			sending := time.Now()
			rc.send(&packet.Pingreq{})
			if late := time.Since(last); late >= due {
				t.Logf("sent %v after the last packet: not judged", late)
				pings = 0
				break
			}
			require.IsType(t, &packet.Pingresp{}, rc.read())
			pings++
			last = sending
		}
		_ = rc.conn.Close()
	}
}

func TestKeepAlive_zeroDisablesTimeout(t *testing.T) {
	t.Parallel()
	_, addr := testutil.StartBroker(t, func(o *broker.Options) { o.ConnectTimeout = 300 * time.Millisecond })
	rc, _ := connectRaw(t, addr, "forever", func(cp *packet.Connect) { cp.KeepAlive = 0 })
	// A connection opened later that never sends CONNECT is closed by the
	// connect timeout; by then any deadline left on the first has passed.
	silent := dialRaw(t, addr, packet.V5)
	require.Nil(t, silent.closed())
	ping(t, rc)
}

func TestKeepAlive_connectTimeout(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.ConnectTimeout = 200 * time.Millisecond })
	rc := dialRaw(t, addr, packet.V5)
	start := time.Now()
	require.Nil(t, rc.closed(), "no CONNACK, no DISCONNECT: the connection is just closed")
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Connections == 0 }, "connection released")
}

func TestKeepAlive_serverKeepAlive(t *testing.T) {
	_, addr := testutil.StartBroker(t, func(o *broker.Options) { o.MaxKeepAlive = 60 * time.Second })
	for _, asked := range []uint16{0, 120} {
		_, ack := connectRaw(t, addr, "c", func(cp *packet.Connect) { cp.KeepAlive = asked })
		require.True(t, ack.Properties.HasServerKeepAlive, "asked %d", asked)
		require.Equal(t, uint16(60), ack.Properties.ServerKeepAlive)
	}
	_, ack := connectRaw(t, addr, "c", func(cp *packet.Connect) { cp.KeepAlive = 30 })
	require.False(t, ack.Properties.HasServerKeepAlive, "a keep alive within the cap is accepted as is")

	// 3.1.1 has no Server Keep Alive: a client asking for more than the
	// cap is refused rather than cut off at a deadline it does not know; one
	// asking for 0 is admitted (and closed when silent past the cap).
	rc := dialRaw(t, addr, packet.V311)
	rc.send(&packet.Connect{Version: packet.V311, ClientID: "c3", CleanStart: true, KeepAlive: 120})
	ack3, ok := rc.read().(*packet.Connack)
	require.True(t, ok)
	require.Equal(t, packet.V311IdentifierRejected, ack3.ReasonCode)
	require.Nil(t, rc.closed())
	connectRaw(t, addr, "c0", func(cp *packet.Connect) { cp.Version = packet.V311; cp.KeepAlive = 0 })
	connectRaw(t, addr, "c3", func(cp *packet.Connect) { cp.Version = packet.V311; cp.KeepAlive = 60 })
}

// A 3.1.1 client asking for keep alive 0 under mqtt.max_keepalive is
// admitted and closed once silent for 1.5 × the cap.
func TestKeepAlive_v311ZeroCapped(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.MaxKeepAlive = time.Second })
	rc, _ := connectRaw(t, addr, "quiet", func(cp *packet.Connect) { cp.Version = packet.V311; cp.KeepAlive = 0 })
	require.Nil(t, rc.closed(), "closed without a DISCONNECT (3.1.1)")
	testutil.Eventually(t, 10*time.Second, func() bool { return s.Stats().Connections == 0 }, "connection released")
}
