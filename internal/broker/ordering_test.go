package broker_test

import (
	"fmt"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

func TestOrdering_onePublisherQoS1(t *testing.T) {
	const n = 1000
	tests := []struct {
		name      string
		configure func(*broker.Options)
	}{
		{"defaultWindow", nil},
		// A window of 4 sends most messages through the session queue.
		{"smallWindow", func(o *broker.Options) { o.MaxInflight = 4; o.MaxQueuedMessages = 2 * n }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := testutil.StartBroker(t, tc.configure)
			sub := connectV5(t, addr, "sub", nil)
			sub.subscribe(t, paho.SubscribeOptions{Topic: "seq", QoS: 1})

			// The publisher pipelines all n publishes without waiting for
			// acks, so the broker sees them back to back.
			pub, _ := connectRaw(t, addr, "pub", nil)
			var buf []byte
			for i := range n {
				buf = encodeAppend(t, buf, &packet.Publish{Topic: "seq", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
			}
			pub.write(buf)
			for range n {
				a, ok := pub.read().(*packet.Ack)
				require.True(t, ok)
				require.Equal(t, packet.TypePuback, a.PacketType)
			}
			for i := range n {
				got := sub.next(t)
				require.Equal(t, fmt.Sprint(i), string(got.Payload), "message %d out of order", i)
			}
			st := s.Stats()
			for reason, count := range st.Dropped {
				require.Zero(t, count, "dropped %s", reason)
			}
		})
	}
}

func encodeAppend(t *testing.T, dst []byte, p packet.Packet) []byte {
	t.Helper()
	b, err := p.AppendTo(dst, packet.V5)
	require.NoError(t, err)
	return b
}
