package broker_test

import (
	"bytes"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// A subscriber that stops reading makes inline writes come up short: the
// rest of a packet must reach it whole, before every later packet.
func TestInlineWrite_shortWritesKeepPacketsWholeAndInOrder(t *testing.T) {
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("QoS %d", qos), func(t *testing.T) {
			const n, size = 120, 64 << 10 // 7.9 MB: more than the socket buffers hold
			_, addr := testutil.StartBroker(t, func(o *broker.Options) {
				o.MaxPendingWrites = 10 * n
				o.MaxInflight = n
			})
			sub, _ := connectRaw(t, addr, "sleeper", func(cp *packet.Connect) { cp.Properties.ReceiveMaximum = n })
			require.NoError(t, sub.conn.(*net.TCPConn).SetReadBuffer(64<<10))
			sub.subscribe(1, packet.Subscription{Filter: "short/#", QoS: qos})

			pub, _ := connectRaw(t, addr, "pub", nil)
			for i := range n {
				pub.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: "short/x", Payload: bytes.Repeat([]byte{byte(i)}, size)})
				ack, ok := pub.read().(*packet.Ack)
				require.True(t, ok, "PUBACK %d: the publisher is not held up by the sleeping subscriber", i)
				require.Equal(t, uint16(i+1), ack.PacketID)
			}
			// Only now does the subscriber read.
			for i := range n {
				p := sub.readPublish()
				require.Len(t, p.Payload, size, "message %d whole", i)
				require.Equal(t, bytes.Repeat([]byte{byte(i)}, size), p.Payload, "message %d in order, intact", i)
				if qos == 1 {
					sub.ack(packet.TypePuback, p.PacketID)
				}
			}
		})
	}
}
