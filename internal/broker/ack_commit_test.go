package broker_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/storage"
	"github.com/iothub-dev/iothub/storage/memstore"
)

// gatedStore is a memstore whose Apply waits while the gate is shut.
type gatedStore struct {
	*memstore.Store
	mu   sync.Mutex
	open chan struct{} // closed: Apply goes through
}

func newGatedStore() *gatedStore {
	g := &gatedStore{Store: memstore.New(), open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gatedStore) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
}

func (g *gatedStore) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.open)
}

func (g *gatedStore) Apply(b *storage.Batch, sync bool) error {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	<-open
	return g.Store.Apply(b, sync)
}

// TestAck_publishThatStoresNothingDoesNotWaitForTheStore: a PUBACK goes
// through the store's committer only when its PUBLISH wrote something (or
// an earlier PUBACK of the connection still waits there), and never
// overtakes an earlier one.
func TestAck_publishThatStoresNothingDoesNotWaitForTheStore(t *testing.T) {
	st := newGatedStore()
	_, addr := testutil.StartBroker(t, func(o *broker.Options) { o.Store = st })

	lock, _ := connectRaw(t, addr, "lock", expiryRaw) // persistent: its queue is stored
	lock.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "cmd/lock", QoS: 1}}})
	require.Equal(t, packet.TypeSuback, lock.read().Type())
	lock.send(&packet.Disconnect{})
	require.NoError(t, lock.conn.Close())

	st.shut()
	defer func() {
		select {
		case <-st.open:
		default:
			st.release()
		}
	}()
	pub, _ := connectRaw(t, addr, "backend", nil)
	// 1 is queued for the offline lock: its PUBACK waits for the commit.
	pub.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: "cmd/lock", Payload: []byte("open")})
	// 2 stores nothing, but must not overtake 1.
	pub.send(&packet.Publish{QoS: 1, PacketID: 2, Topic: "nobody/listens", Payload: []byte("x")})
	pub.send(&packet.Pingreq{})
	require.Equal(t, packet.TypePingresp, pub.read().Type(), "no PUBACK before the commit")

	// Another client's publish that stores nothing is acknowledged while
	// the store is still stuck.
	other, _ := connectRaw(t, addr, "sensor", nil)
	other.send(&packet.Publish{QoS: 1, PacketID: 9, Topic: "nobody/listens", Payload: []byte("x")})
	ack, ok := other.read().(*packet.Ack)
	require.True(t, ok)
	require.Equal(t, packet.TypePuback, ack.PacketType)
	require.Equal(t, uint16(9), ack.PacketID)

	st.release()
	for _, want := range []uint16{1, 2} {
		ack, ok := pub.read().(*packet.Ack)
		require.True(t, ok)
		require.Equal(t, packet.TypePuback, ack.PacketType)
		require.Equal(t, want, ack.PacketID, "PUBACKs in PUBLISH order")
	}
}

// expiryRaw makes a raw v5 CONNECT ask for a persistent session.
func expiryRaw(c *packet.Connect) {
	c.Properties.SessionExpiry, c.Properties.HasSessionExpiry = 300, true
}
