package broker_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// size counted for one delivery of a payload of n bytes on a one-byte
// topic (deliveryOverhead in budget.go).
func counted(n int) int64 { return int64(1+n) + 96 }

// offlineSub leaves a persistent session subscribed to filter at QoS 1.
func offlineSub(t *testing.T, addr, id, filter string) {
	t.Helper()
	c := connectV5(t, addr, id, expiryV5(300, true))
	c.subscribe(t, paho.SubscribeOptions{Topic: filter, QoS: 1})
	require.NoError(t, c.Disconnect(&paho.Disconnect{}))
}

func TestBudget_queueBytes(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		o.MaxQueuedBytes = 3000 // two 1,000-byte messages, not three
	})
	ev := recordEvents(t, s)
	offlineSub(t, addr, "dev", "q")
	ev.wait(t, msg.EventClientDisconnected, "dev")
	pub := connectV5(t, addr, "pub", nil)
	for i := range 5 {
		pub.publish(t, &paho.Publish{Topic: "q", QoS: 1, Payload: bytes.Repeat([]byte{byte('0' + i)}, 1000)})
	}
	st := s.Stats()
	require.Equal(t, int64(2), st.Queued)
	require.Equal(t, uint64(3), st.Dropped["queue_full"])
	require.Equal(t, 2*counted(1000), st.BufferedBytes)

	back := connectV5(t, addr, "dev", expiryV5(300, false))
	require.Equal(t, byte('3'), back.next(t).Payload[0], "drop_oldest kept the newest")
	require.Equal(t, byte('4'), back.next(t).Payload[0])
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().BufferedBytes == 0 }, "released once delivered")
}

func TestBudget_pendingWriteBytes(t *testing.T) {
	const size = 100 << 10
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		o.MaxPendingWriteBytes = 1 << 20
		o.BackpressureTimeout = -1 // drop at once: this test is about the bound
	})
	slow, _ := connectRaw(t, addr, "slow", nil)
	slow.subscribe(1, packet.Subscription{Filter: "big/#"})
	// From here on "slow" never reads.
	pub := connectV5(t, addr, "pub", nil)
	payload := make([]byte, size)
	refused := 0
	for range 200 { // 20 MB: more than the socket buffers and the budget
		if pub.publishCode(t, &paho.Publish{Topic: "big/x", QoS: 1, Payload: payload}) == byte(packet.QuotaExceeded) {
			refused++ // its only subscriber had no room
		}
	}
	require.Positive(t, refused)
	st := s.Stats()
	require.Positive(t, st.Dropped["write_queue_full"])
	require.LessOrEqual(t, st.BufferedBytes, int64(1<<20), "pending writes held within max_pending_write_bytes")
}

func TestBudget_global(t *testing.T) {
	const limit = 20_000
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		o.MaxBufferedBytes = limit
		o.BackpressureTimeout = 50 * time.Millisecond
		o.MaxPacketSize = 1 << 20
	})
	ev := recordEvents(t, s)
	offlineSub(t, addr, "dev", "g")
	ev.wait(t, msg.EventClientDisconnected, "dev")
	raw, _ := connectRaw(t, addr, "bigsender", nil) // before the budget is spent
	pub := connectV5(t, addr, "pub", nil)
	for i := range 15 { // 15 × 2 KB: over the budget
		pub.publish(t, &paho.Publish{Topic: "g", QoS: 1, Payload: bytes.Repeat([]byte{byte('a' + i)}, 2000)})
	}
	st := s.Stats()
	require.Positive(t, st.Dropped["memory_limit"], "over the budget a queue takes a message only in place of another")
	require.LessOrEqual(t, st.BufferedBytes, int64(limit)+counted(2000))
	require.Positive(t, st.BackpressureWaits, "publishers were slowed first")

	// No new connections while the budget is spent.
	rc := dialRaw(t, addr, packet.V5)
	rc.send(&packet.Connect{Version: packet.V5, ClientID: "late", CleanStart: true, KeepAlive: 30})
	ack, ok := rc.read().(*packet.Connack)
	require.True(t, ok)
	require.Equal(t, packet.ServerBusy, ack.ReasonCode)

	// A connection starting a large packet is closed with Quota exceeded.
	big, err := (&packet.Publish{Topic: "g", QoS: 0, Payload: make([]byte, 200_000)}).AppendTo(nil, packet.V5)
	require.NoError(t, err)
	raw.write(big[:100_000])
	d := raw.closed()
	require.NotNil(t, d)
	require.Equal(t, packet.QuotaExceeded, d.ReasonCode)
	require.GreaterOrEqual(t, s.Stats().BudgetRefused, uint64(2), fmt.Sprint(s.Stats().ConnectsRefused))
}

// Large CONNECT packets still arriving share MaxConnectingBytes: a client
// that has not authenticated finding it spent is closed, the one holding
// it completes its CONNECT, and small CONNECTs are not affected.
func TestBudget_connecting(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		o.MaxConnectingBytes = 200_000
		o.MaxPacketSize = 1 << 20
	})
	bigConnect := func(id string) []byte {
		b, err := (&packet.Connect{Version: packet.V5, ClientID: id, CleanStart: true, KeepAlive: 30,
			WillFlag: true, WillTopic: "will/" + id, WillPayload: make([]byte, 65_000),
			UsernameFlag: true, Username: strings.Repeat("u", 60_000), PasswordFlag: true, Password: make([]byte, 65_000)}).AppendTo(nil, packet.V5)
		require.NoError(t, err)
		return b
	}
	first, second := dialRaw(t, addr, packet.V5), dialRaw(t, addr, packet.V5)
	a := bigConnect("first")
	first.write(a[:70_000])
	testutil.Eventually(t, 10*time.Second, func() bool { return s.Stats().BufferedBytes >= 60_000 },
		"the first CONNECT is charged")
	second.write(bigConnect("second")[:70_000])
	require.Nil(t, second.closed(), "the second is closed, without a CONNACK")
	require.Positive(t, s.Stats().BudgetRefused)

	small, _ := connectRaw(t, addr, "small", nil)
	first.write(a[70_000:])
	ack, ok := first.read().(*packet.Connack)
	require.True(t, ok, "the first CONNECT completes")
	require.Equal(t, packet.Success, ack.ReasonCode)
	_ = small.conn.Close()
	testutil.Eventually(t, 10*time.Second, func() bool { return s.Stats().BufferedBytes == 0 },
		"what the CONNECTs were charged is given back")
}
