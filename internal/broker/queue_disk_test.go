package broker_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// leaveOffline leaves a persistent session subscribed to topic at
// QoS 1 with its client gone.
func leaveOffline(t *testing.T, b *testutil.StoredBroker, clientID, topic string) {
	t.Helper()
	sub := connectV5(t, b.Addr, clientID, expiryV5(3600, true))
	sub.subscribe(t, paho.SubscribeOptions{Topic: topic, QoS: 1})
	require.NoError(t, sub.Disconnect(&paho.Disconnect{}))
	testutil.Eventually(t, 5*time.Second, func() bool { return b.Server.Stats().Connections == 0 }, "subscriber offline")
}

// publishNumbered publishes payloads "0".."n-1" at QoS 1 (each PUBACKed).
func publishNumbered(t *testing.T, b *testutil.StoredBroker, topic string, n int) {
	t.Helper()
	pub := connectV5(t, b.Addr, "backend-"+strconv.Itoa(n), nil)
	for i := range n {
		pub.publish(t, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
}

// receiveNumbered resumes clientID's session and returns the payloads of
// the next n messages, as numbers.
func receiveNumbered(t *testing.T, b *testutil.StoredBroker, clientID string, n int) []int {
	t.Helper()
	sub := connectV5(t, b.Addr, clientID, expiryV5(3600, false))
	require.True(t, sub.connack.SessionPresent)
	got := make([]int, 0, n)
	for range n {
		p := sub.next(t)
		i, err := strconv.Atoi(string(p.Payload))
		require.NoError(t, err)
		got = append(got, i)
	}
	return got
}

func seq(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// TestBacklog_offlineQueueOnDisk: the queue of an offline persistent
// session is held in the store, not in memory, beyond max_queued_messages
// (which bounds memory only); it survives a restart without being loaded,
// and the reconnecting client gets every message once, in order, paged in
// as it acknowledges.
func TestBacklog_offlineQueueOnDisk(t *testing.T) {
	const n = 3000 // > max_queued_messages, > several pages
	b := testutil.StartStoredBroker(t, t.TempDir(), func(o *broker.Options) {
		o.Durability = broker.DurabilityOS
		o.MaxQueuedMessages = 100
	})
	leaveOffline(t, b, "lock-1", "cmd/lock-1")
	publishNumbered(t, b, "cmd/lock-1", n)
	st := b.Server.Stats()
	require.EqualValues(t, n, st.Queued)
	require.EqualValues(t, n, st.QueuedOnDisk, "the offline backlog is on disk only")
	require.Positive(t, st.QueuedOnDiskBytes)
	require.Zero(t, st.Dropped["queue_full"])
	require.EqualValues(t, n, mustClient(t, b.Server, "lock-1").Queued)
	require.EqualValues(t, n, mustClient(t, b.Server, "lock-1").QueuedPeak, "the high-water mark counts the disk too")

	b.Restart(t)
	require.Equal(t, n, b.Server.Recovery().Queued)
	require.EqualValues(t, n, b.Server.Stats().QueuedOnDisk, "recovery counts the records, it loads none")

	require.Equal(t, seq(0, n), receiveNumbered(t, b, "lock-1", n))
	testutil.Eventually(t, 5*time.Second, func() bool { return b.Server.Stats().Queued == 0 && b.Server.Stats().Inflight == 0 }, "all acknowledged")
	require.Zero(t, b.Server.Stats().QueuedOnDisk)
	b.Restart(t)
	require.Zero(t, b.Server.Recovery().Queued, "acknowledged messages are deleted")
}

func mustClient(t *testing.T, s *broker.Server, id string) broker.ClientInfo {
	t.Helper()
	ci, ok := s.Client(id)
	require.True(t, ok)
	return ci
}

// TestBacklog_newMessagesQueueBehindDisk: messages published while the
// client is connected and its backlog is still on disk go behind it: the
// client sees one ordered stream.
func TestBacklog_newMessagesQueueBehindDisk(t *testing.T) {
	b := testutil.StartStoredBroker(t, t.TempDir(), func(o *broker.Options) { o.Durability = broker.DurabilityOS })
	leaveOffline(t, b, "lock-2", "cmd/lock-2")
	publishNumbered(t, b, "cmd/lock-2", 1000)
	sub := connectV5(t, b.Addr, "lock-2", expiryV5(3600, false))
	pub := connectV5(t, b.Addr, "backend", nil)
	for i := 1000; i < 1500; i++ {
		pub.publish(t, &paho.Publish{Topic: "cmd/lock-2", QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	for i := range 1500 {
		require.Equal(t, strconv.Itoa(i), string(sub.next(t).Payload))
	}
}

// TestBacklog_boundInBytes: the disk backlog is bounded by
// max_backlog_bytes; the queue policy picks what goes, every drop counted.
func TestBacklog_boundInBytes(t *testing.T) {
	payload := func(i int) []byte { return fmt.Appendf(nil, "%03d%097d", i, 0) } // 100 bytes
	const topic = "cmd/lock-3"
	size := int64(len(topic) + 100 + 96) // deliverySize
	cases := []struct {
		policy  broker.QueueFullPolicy
		want    []int
		refused int
	}{
		{broker.DropOldest, seq(15, 25), 0},
		{broker.DropNew, seq(0, 10), 15},
	}
	for _, tc := range cases {
		t.Run(string(tc.policy), func(t *testing.T) {
			b := testutil.StartStoredBroker(t, t.TempDir(), func(o *broker.Options) {
				o.Durability = broker.DurabilityOS
				o.MaxBacklogBytes = 10 * size
				o.QueueFullPolicy = tc.policy
			})
			leaveOffline(t, b, "lock-3", topic)
			pub := connectV5(t, b.Addr, "backend", nil)
			refused := 0
			for i := range 25 {
				if pub.publishCode(t, &paho.Publish{Topic: topic, QoS: 1, Payload: payload(i)}) == 0x97 {
					refused++ // drop_new: quota exceeded, no subscriber took it
				}
			}
			require.Equal(t, tc.refused, refused)
			st := b.Server.Stats()
			require.EqualValues(t, 15, st.Dropped["queue_full"])
			require.EqualValues(t, 10, st.Queued)
			require.LessOrEqual(t, st.QueuedOnDiskBytes, 10*size)
			b.Restart(t)
			require.Equal(t, 10, b.Server.Recovery().Queued, "the dropped records are deleted")
			sub := connectV5(t, b.Addr, "lock-3", expiryV5(3600, false))
			for _, i := range tc.want {
				require.Equal(t, string(payload(i)), string(sub.next(t).Payload))
			}
		})
	}
}

// TestBacklog_cleanStartDiscardsDisk: a Clean Start discards the backlog
// on disk, counted as session_ended, and its records are deleted.
func TestBacklog_cleanStartDiscardsDisk(t *testing.T) {
	b := testutil.StartStoredBroker(t, t.TempDir(), func(o *broker.Options) { o.Durability = broker.DurabilityOS })
	leaveOffline(t, b, "lock-4", "cmd/lock-4")
	publishNumbered(t, b, "cmd/lock-4", 300)
	connectV5(t, b.Addr, "lock-4", expiryV5(3600, true))
	st := b.Server.Stats()
	require.EqualValues(t, 300, st.Dropped["session_ended"])
	require.Zero(t, st.Queued)
	require.Zero(t, st.QueuedOnDisk)
	require.Zero(t, st.QueuedOnDiskBytes)
	b.Restart(t)
	require.Zero(t, b.Server.Recovery().Queued)
	require.Zero(t, b.Server.Recovery().Orphans)
}

// TestBacklog_takenByAnotherNodeWithDiskTail: a session taken by another
// cluster node carries its backlog on disk in the export, in order, and
// leaves nothing behind in this node's store or gauges.
func TestBacklog_takenByAnotherNodeWithDiskTail(t *testing.T) {
	const n = 600 // more than two pages
	b := testutil.StartStoredBroker(t, t.TempDir(), func(o *broker.Options) { o.Durability = broker.DurabilityOS })
	leaveOffline(t, b, "lock-5", "cmd/lock-5")
	publishNumbered(t, b, "cmd/lock-5", n)
	require.EqualValues(t, n, b.Server.Stats().QueuedOnDisk)

	raw := b.Server.TakeSession("lock-5")
	require.NotNil(t, raw)
	var exp struct {
		Messages [][]byte `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(raw, &exp))
	require.Len(t, exp.Messages, n)
	for i, rec := range exp.Messages {
		// A record ends with the PUBLISH: property length 0, then the payload.
		require.True(t, bytes.HasSuffix(rec, append([]byte{0}, strconv.Itoa(i)...)), "record %d", i)
	}
	st := b.Server.Stats()
	require.Zero(t, st.Queued)
	require.Zero(t, st.QueuedOnDisk)
	b.Restart(t)
	require.Zero(t, b.Server.Recovery().Sessions)
	require.Zero(t, b.Server.Recovery().Queued)
	require.Zero(t, b.Server.Recovery().Orphans, "the queue records went with the session")
}
