package broker

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/msg"
	"github.com/iothub-dev/iothub/storage"
)

// failingSyncer is a Syncer whose Sync fails while fail is set (a
// replicated queue without a quorum for a moment, after a node loss).
type failingSyncer struct{ fail atomic.Bool }

func (f *failingSyncer) Sync(bool) error {
	if f.fail.Load() {
		return errors.New("session queue not replicated")
	}
	return nil
}

// TestPersister_failedSyncKeepsWrites: the writes of a commit whose Sync
// failed are not in the store while the Sync fails, and are with the next
// commit whose Sync succeeds; the acknowledgements of the failed commit
// are withheld.
func TestPersister_failedSyncKeepsWrites(t *testing.T) {
	st := openTestStore(t, t.TempDir())
	s := newStored(t, st)
	sy := &failingSyncer{}
	sy.fail.Store(true)
	request, remove := s.AddSyncer(sy)
	defer remove()
	p := s.pstore()

	p.put([]byte("x/1"), []byte("one"))
	request()
	require.Error(t, p.wait(), "the acknowledgement of the failed commit is withheld")
	_, err := st.Get([]byte("x/1"))
	require.ErrorIs(t, err, storage.ErrNotFound, "no write reaches the store before a Sync succeeded")

	p.del([]byte("x/2"))
	p.put([]byte("x/2"), []byte("two")) // a newer write of the same key wins
	sy.fail.Store(false)
	require.NoError(t, p.wait())
	for k, want := range map[string]string{"x/1": "one", "x/2": "two"} {
		v, err := st.Get([]byte(k))
		require.NoError(t, err, "%s: the write of the failed commit went with the next one", k)
		require.Equal(t, want, string(v))
	}
}

// TestAdoptSession_backlogSurvivesFailedSync: a lost node's session is
// adopted while the adopter's commits fail their Sync (its replicated
// queue has no leader yet). The adopted backlog leaves memory for its
// queue records at once (an offline session's queue lives on disk), so
// those records are all there is: when the device resumes (here on
// another node, which takes the session over), every message is still
// in the session. Before, the failed commit dropped the records and the
// session resumed with its in-flight messages only (the CI failure of
// TestCluster/killNodeUnderQoS1Load: 117 acknowledged messages lost).
func TestAdoptSession_backlogSurvivesFailedSync(t *testing.T) {
	st := openTestStore(t, t.TempDir())
	s := newStored(t, st)
	sy := &failingSyncer{}
	sy.fail.Store(true)
	_, remove := s.AddSyncer(sy)
	defer remove()

	rec, err := json.Marshal(clusterRecord{Session: sessionRecord{Proto: 5, Expiry: 600,
		Subs: []subRecord{{Filter: "cmd/slow", QoS: 1}}}})
	require.NoError(t, err)
	var queue [][]byte
	var want []string
	for i := range 40 {
		pid := uint16(0)
		if i < 10 {
			pid = uint16(i + 1) // in flight on the lost node
		}
		p := "m" + strconv.Itoa(i)
		b, err := encodeQueued(&delivery{m: &msg.Message{Topic: "cmd/slow", Payload: []byte(p), QoS: 1}, qos: 1}, pid, false)
		require.NoError(t, err)
		queue, want = append(queue, b), append(want, p)
	}
	s.AdoptSession("slow", rec, queue, nil)
	require.Error(t, s.pstore().wait(), "the adoption's commit failed its Sync")
	sy.fail.Store(false)
	require.NoError(t, s.pstore().wait())

	b := s.TakeSession("slow")
	require.NotNil(t, b, "the adopted session exists")
	var exp sessionExport
	require.NoError(t, json.Unmarshal(b, &exp))
	var got []string
	for _, m := range exp.Messages {
		r, err := decodeQueued(m)
		require.NoError(t, err)
		got = append(got, string(r.d.m.Payload))
	}
	require.ElementsMatch(t, want, got, "every message of the adopted session goes with it")
}
