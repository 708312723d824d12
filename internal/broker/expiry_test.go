package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// TestExpiry_sweepOfflineQueue: a message whose Message Expiry Interval
// passes while its subscriber stays offline is removed from the session's
// queue and from the store by the periodic sweep — not only when the client
// comes back — while a message without expiry stays queued.
func TestExpiry_sweepOfflineQueue(t *testing.T) {
	clock := clockwork.NewFakeClock()
	b := testutil.StartStoredBroker(t, t.TempDir(), func(o *broker.Options) {
		o.ExpirySweepInterval = 20 * time.Millisecond
		o.Clock = clock
	})
	sub := connectV5(t, b.Addr, "lock-x", expiryV5(3600, true))
	sub.subscribe(t, paho.SubscribeOptions{Topic: "cmd/x", QoS: 1})
	require.NoError(t, sub.Disconnect(&paho.Disconnect{}))
	testutil.Eventually(t, 5*time.Second, func() bool { return b.Server.Stats().Connections == 0 }, "subscriber offline")

	pub := connectV5(t, b.Addr, "backend", nil)
	one := uint32(1)
	pub.publish(t, &paho.Publish{Topic: "cmd/x", QoS: 1, Payload: []byte("short-lived"), Properties: &paho.PublishProperties{MessageExpiry: &one}})
	pub.publish(t, &paho.Publish{Topic: "cmd/x", QoS: 1, Payload: []byte("keeps")})
	require.EqualValues(t, 2, b.Server.Stats().Queued)
	require.EqualValues(t, 2, b.Server.Stats().QueuedOnDisk, "the offline queue is on disk: the sweep reads it there")
	clock.Advance(1100 * time.Millisecond)

	testutil.Eventually(t, 10*time.Second, func() bool { return b.Server.Stats().Dropped["expired"] == 1 }, "expired message swept")
	require.EqualValues(t, 1, b.Server.Stats().Queued, "the message without expiry stays")
	require.EqualValues(t, 1, b.Server.Stats().QueuedOnDisk)

	b.Restart(t)
	rep := b.Server.Recovery()
	require.Equal(t, 1, rep.Queued, "the swept message is gone from the store too")
	require.Zero(t, rep.ExpiredMessages)
	again := connectV5(t, b.Addr, "lock-x", expiryV5(3600, false))
	require.Equal(t, "keeps", string(again.next(t).Payload))
}

// TestPersist_internalPublishReturnsWhenStored: Server.Publish (API, rules,
// Kafka consumer) of a QoS 1 message to an offline persistent subscriber
// returns only after the queue record is committed, so a caller that then
// acknowledges upstream (a Kafka offset) cannot lose it to a crash.
func TestPersist_internalPublishReturnsWhenStored(t *testing.T) {
	b := testutil.StartStoredBroker(t, t.TempDir(), nil)
	sub := connectV5(t, b.Addr, "offline-lock", expiryV5(3600, true))
	sub.subscribe(t, paho.SubscribeOptions{Topic: "cmd/offline-lock", QoS: 1})
	require.NoError(t, sub.Disconnect(&paho.Disconnect{}))
	testutil.Eventually(t, 5*time.Second, func() bool { return b.Server.Stats().Connections == 0 }, "subscriber offline")

	for i := range 20 {
		before := b.Server.PersistStats().Writes
		n, err := b.Server.Publish(context.Background(), &msg.Message{Topic: "cmd/offline-lock", QoS: 1, Payload: []byte{byte(i)}})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Greater(t, b.Server.PersistStats().Writes, before, "the queue record is committed when Publish returns")
	}
}
