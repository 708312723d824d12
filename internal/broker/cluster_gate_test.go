package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// gateCluster is a broker.Cluster whose forwards wait until the test
// releases them: the other nodes "store" each message when told to.
type gateCluster struct {
	waits chan func(error) // one per forwarded QoS 1/2 message, in order
}

func (g *gateCluster) Interest(string, bool) {}
func (g *gateCluster) Forward(m *msg.Message) (int, func(func(error))) {
	if m.QoS == 0 {
		return 0, nil
	}
	return 1, func(cb func(error)) { g.waits <- cb }
}
func (g *gateCluster) Claim(context.Context, string, []byte) ([]byte, bool, func(), error) {
	return nil, false, func() {}, nil
}
func (g *gateCluster) Save(string, []byte)                     {}
func (g *gateCluster) Release(string)                          {}
func (g *gateCluster) Retain(*msg.Message)                     {}
func (g *gateCluster) Enqueue(string, uint64, []byte)          {}
func (g *gateCluster) Dequeue(string, uint64)                  {}
func (g *gateCluster) Requeue(string, uint64, uint64)          {}
func (g *gateCluster) EndQueue(string)                         {}
func (g *gateCluster) HandOver(_ string, p []uint64) []uint64  { return make([]uint64, len(p)) }
func (g *gateCluster) DropQueue(context.Context, string) error { return nil }
func (g *gateCluster) LoadQueue(context.Context, string) ([][]byte, []uint64, error) {
	return nil, nil, nil
}

// TestClusterAckGate_inOrderAfterTheOtherNodes: the PUBACK of a QoS 1
// message forwarded to other nodes goes out only once they stored it, and
// in PUBLISH order when they answer out of order (the acknowledgements are
// released on whatever goroutine learns of the store, and written there
// when the connection's writer is idle).
func TestClusterAckGate_inOrderAfterTheOtherNodes(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	g := &gateCluster{waits: make(chan func(error), 16)}
	s.SetCluster(g)
	pub, _ := connectRaw(t, addr, "pub", nil)
	for id := uint16(1); id <= 3; id++ {
		pub.send(&packet.Publish{Topic: "gate/x", QoS: 1, PacketID: id, Payload: []byte{byte(id)}})
	}
	var release [3]func(error)
	for i := range release {
		select {
		case release[i] = <-g.waits:
		case <-time.After(10 * time.Second):
			t.Fatalf("forward %d not waited for", i+1)
		}
	}
	release[2](nil)
	release[1](nil)
	// A PINGRESP queued after those releases comes before any PUBACK: the
	// second and third wait for the first.
	pub.send(&packet.Pingreq{})
	_, ok := pub.read().(*packet.Pingresp)
	require.True(t, ok, "no PUBACK before the first message is stored by the other nodes")
	release[0](nil)
	for id := uint16(1); id <= 3; id++ {
		a, ok := pub.read().(*packet.Ack)
		require.True(t, ok)
		require.Equal(t, packet.TypePuback, a.PacketType)
		require.Equal(t, id, a.PacketID, "PUBACKs in PUBLISH order")
	}
}
