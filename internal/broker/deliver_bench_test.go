package broker_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// rawSubscriber is a minimal MQTT 3.1.1 subscriber over loopback TCP that
// counts the PUBLISH packets it reads, for benchmarks.
type rawSubscriber struct {
	conn net.Conn
	got  atomic.Int64
}

func newRawSubscriber(tb testing.TB, addr, id, filter string) *rawSubscriber {
	tb.Helper()
	nc := testutil.Dial(tb, addr)
	out, err := (&packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true, ClientID: id}).AppendTo(nil, packet.V311)
	require.NoError(tb, err)
	out, err = (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter}}}).AppendTo(out, packet.V311)
	require.NoError(tb, err)
	_, err = nc.Write(out)
	require.NoError(tb, err)
	r := bufio.NewReaderSize(nc, 64<<10)
	for _, want := range []packet.Type{packet.TypeConnack, packet.TypeSuback} {
		p, err := packet.ReadPacket(r, packet.V311, 1<<20)
		require.NoError(tb, err)
		require.Equal(tb, want, p.Type())
	}
	rs := &rawSubscriber{conn: nc}
	go rs.count(r)
	return rs
}

// count reads packets until the connection closes, counting PUBLISHes. It
// parses only the fixed header and skips the body.
func (rs *rawSubscriber) count(r *bufio.Reader) {
	for {
		first, err := r.ReadByte()
		if err != nil {
			return
		}
		n, err := packet.ReadVarInt(r)
		if err != nil {
			return
		}
		if _, err := r.Discard(n); err != nil {
			return
		}
		if packet.Type(first>>4) == packet.TypePublish {
			rs.got.Add(1)
		}
	}
}

// BenchmarkPublishDeliver measures routing one QoS 0 message from
// Server.Publish to N subscribers over loopback TCP, including encoding and
// socket writes; ns/op is per published message.
func BenchmarkPublishDeliver(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			s, addr := testutil.StartBroker(b, func(o *broker.Options) { o.MaxPendingWrites = 1 << 20 })
			benchDeliver(b, s, addr, n) // deliver_acl_bench_test.go
		})
	}
}

// BenchmarkDropQueueFull measures a QoS 1 delivery that finds a stalled
// subscriber's queue full (of QoS 1 messages) and is dropped (counted,
// logged rate-limited): the work done under the subscriber's session lock,
// which its acknowledgements wait for.
func BenchmarkDropQueueFull(b *testing.B) {
	for _, queued := range []int{1, 1000} {
		b.Run(fmt.Sprintf("queued=%d", queued), func(b *testing.B) {
			s, addr := testutil.StartBroker(b, func(o *broker.Options) {
				o.MaxInflight = 1
				o.MaxQueuedMessages = queued
				o.BackpressureTimeout = -1
			})
			// A subscriber that reads its CONNACK and SUBACK, then nothing.
			nc := testutil.Dial(b, addr)
			out, err := (&packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true, ClientID: "stalled"}).AppendTo(nil, packet.V311)
			require.NoError(b, err)
			out, err = (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "drop/#", QoS: 1}}}).AppendTo(out, packet.V311)
			require.NoError(b, err)
			_, err = nc.Write(out)
			require.NoError(b, err)
			for _, want := range []packet.Type{packet.TypeConnack, packet.TypeSuback} {
				p, err := packet.ReadPacket(nc, packet.V311, 1<<20)
				require.NoError(b, err)
				require.Equal(b, want, p.Type())
			}
			m := &msg.Message{Topic: "drop/x", QoS: 1, Payload: []byte("x")}
			for range 1 + queued { // the window and the queue full
				_, err := s.Publish(context.Background(), m)
				require.NoError(b, err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := s.Publish(context.Background(), m); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			require.Equal(b, uint64(b.N), s.Stats().Dropped["queue_full"], "every delivery past the window and the queue dropped")
		})
	}
}
