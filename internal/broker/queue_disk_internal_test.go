package broker

import (
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/msg"
	"github.com/iothub-dev/iothub/storage"
	"github.com/iothub-dev/iothub/storage/memstore"
)

// TestPeekQueued: what recovery reads of a queue record without decoding
// it (packet id, expiry, size) matches the record, for every shape; every
// truncation is an error.
func TestPeekQueued(t *testing.T) {
	plain := &msg.Message{Topic: "cmd/x", Payload: []byte("open")}
	cases := []struct {
		name string
		d    delivery
		pid  uint16
	}{
		{"all properties, sent", delivery{m: testMessage(), qos: 2, subIDs: []uint32{3, 70000}}, 513},
		{"plain, not sent", delivery{m: plain, qos: 1}, 0},
		{"empty payload", delivery{m: &msg.Message{Topic: "a"}, qos: 1}, 0},
		{"long payload", delivery{m: &msg.Message{Topic: "a/b", Payload: make([]byte, 300_000)}, qos: 1}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := encodeQueued(&tc.d, tc.pid, false)
			require.NoError(t, err)
			pid, exp, size, err := peekQueued(b)
			require.NoError(t, err)
			require.Equal(t, tc.pid, pid)
			require.Equal(t, expiryNS(tc.d.m.ExpiresAt), exp)
			require.Equal(t, deliverySize(tc.d.m), size)
			for i := range b {
				_, _, _, err := peekQueued(b[:i])
				require.Error(t, err, "truncated at %d", i)
			}
		})
	}
}

// heldStore is a memstore whose Apply waits until released: writes stay
// with the committer.
type heldStore struct {
	*memstore.Store
	mu   sync.Mutex
	gate chan struct{}
}

func (h *heldStore) Apply(b *storage.Batch, sync bool) error {
	h.mu.Lock()
	g := h.gate
	h.mu.Unlock()
	if g != nil {
		<-g
	}
	return h.Store.Apply(b, sync)
}

// TestReadDisk_seesWritesNotYetCommitted: reading a session's queue
// records from the store sees the writes still waiting for (or being
// written by) the committer — puts, deletes and a whole queue's range
// delete — so a page-in never misses a message just queued.
func TestReadDisk_seesWritesNotYetCommitted(t *testing.T) {
	hs := &heldStore{Store: memstore.New()}
	s := newStored(t, hs)
	p := s.pstore()
	val := func(i int) []byte { return []byte("v" + strconv.Itoa(i)) }
	var b storage.Batch
	for i := 1; i <= 3; i++ {
		b.Put(queueKey("x", uint64(i)), val(i))
	}
	b.Put(queueKey("xy", 1), val(99)) // another client id sharing the prefix
	require.NoError(t, hs.Store.Apply(&b, true))

	hs.mu.Lock()
	hs.gate = make(chan struct{})
	hs.mu.Unlock()
	defer func() { close(hs.gate) }()
	p.put(queueKey("x", 4), val(4)) // taken by the committer, held in Apply
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.inCommit) == 1
	}, 5*time.Second, time.Millisecond)
	p.del(queueKey("x", 2))
	p.put(queueKey("x", 5), val(5))
	p.put(queueKey("x", 3), val(33))

	read := func(from uint64, limit int) []string {
		ss := newSession(s, "x")
		ss.mu.Lock()
		defer ss.mu.Unlock()
		var got []string
		require.NoError(t, ss.readDiskLocked(p, from, func(seq uint64, v []byte) bool {
			got = append(got, strconv.FormatUint(seq, 10)+"="+string(v))
			return len(got) < limit
		}))
		return got
	}
	require.Equal(t, []string{"1=v1", "3=v33", "4=v4", "5=v5"}, read(1, 100))
	require.Equal(t, []string{"3=v33", "4=v4"}, read(3, 2))

	p.delRange(queueKey("x", 0), queueEnd("x"))
	p.put(queueKey("x", 1), val(7))
	require.Equal(t, []string{"1=v7"}, read(1, 100), "a range delete hides what the store holds")
}

// TestAdoptSession_backlogOnDisk: a persistent session adopted from a lost
// cluster node is offline, so the queue it brings lives on disk like any
// offline backlog (not in memory: a lost node's million-record backlog
// would fill the adopter's heap), and pages back in order.
func TestAdoptSession_backlogOnDisk(t *testing.T) {
	s := newStored(t, memstore.New())
	rec, err := json.Marshal(clusterRecord{Session: sessionRecord{Proto: 5, Expiry: 3600,
		Subs: []subRecord{{Filter: "cmd/#", QoS: 1}}}})
	require.NoError(t, err)
	const n = 50
	queue := make([][]byte, 0, n)
	for i := range n {
		b, err := encodeQueued(&delivery{m: &msg.Message{Topic: "cmd/x", Payload: []byte(strconv.Itoa(i))}, qos: 1}, 0, false)
		require.NoError(t, err)
		queue = append(queue, b)
	}
	s.AdoptSession("lock-1", rec, queue, nil)

	st := s.Stats()
	require.EqualValues(t, n, st.Queued)
	require.EqualValues(t, n, st.QueuedOnDisk, "the adopted queue is on disk")
	s.mu.Lock()
	ss := s.sessions["lock-1"]
	s.mu.Unlock()
	require.NotNil(t, ss)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	require.Zero(t, ss.queue.len(), "nothing of it in memory")
	require.NoError(t, s.pstore().wait())
	require.Equal(t, n, ss.pageInLocked(n))
	for i := range n {
		require.Equal(t, strconv.Itoa(i), string(ss.queue.items[ss.queue.head+i].m.Payload))
	}
}
