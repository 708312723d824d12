package broker

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/msg"
	"github.com/iothub-dev/iothub/storage"
	"github.com/iothub-dev/iothub/storage/pebblestore"
)

func testMessage() *msg.Message {
	return &msg.Message{Topic: "devices/lock-1/command", Payload: []byte(`{"action":"unlock"}`), QoS: 2, Retain: true,
		ClientID: "backend", Username: "svc", PeerHost: "10.0.0.1:5555", Origin: msg.Origin{Kind: msg.OriginClient},
		ReceivedAt: time.Unix(1700000000, 123), ExpiresAt: time.Unix(1800000000, 0),
		PayloadFormat: 1, ContentType: "application/json", ResponseTopic: "r/1", CorrelationData: []byte{9},
		UserProperties: []msg.UserProperty{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}}
}

func TestRecord_roundTrip(t *testing.T) {
	m := testMessage()
	b, err := encodeQueued(&delivery{m: m, qos: 2, retain: true, subIDs: []uint32{3, 70000}}, 513, true)
	require.NoError(t, err)
	r, err := decodeQueued(b)
	require.NoError(t, err)
	require.Equal(t, uint16(513), r.pid)
	require.True(t, r.released)
	require.Equal(t, byte(2), r.d.qos)
	require.True(t, r.d.retain)
	require.Equal(t, []uint32{3, 70000}, r.d.subIDs)
	r.d.m.QoS = m.QoS
	require.Equal(t, m.ReceivedAt.UnixNano(), r.d.m.ReceivedAt.UnixNano())
	require.Equal(t, m.ExpiresAt.UnixNano(), r.d.m.ExpiresAt.UnixNano())
	r.d.m.ReceivedAt, r.d.m.ExpiresAt = m.ReceivedAt, m.ExpiresAt
	require.Equal(t, m, r.d.m)

	rb, err := encodeRetained(m)
	require.NoError(t, err)
	rm, err := decodeRetained(rb)
	require.NoError(t, err)
	require.Equal(t, m.Payload, rm.Payload)
	for i := range b {
		_, _ = decodeQueued(b[:i]) // every truncation is an error, never a panic
		_, err := decodeQueued(b[:i])
		require.Error(t, err, "truncated at %d", i)
	}
}

// FuzzDecodeRecord feeds arbitrary bytes to every store record decoder: an
// error or a value, never a panic.
func FuzzDecodeRecord(f *testing.F) {
	m := testMessage()
	q, _ := encodeQueued(&delivery{m: m, qos: 1, subIDs: []uint32{1}}, 7, false)
	r, _ := encodeRetained(m)
	s, _ := json.Marshal(sessionRecord{Proto: 5, Expiry: 60, Subs: []subRecord{{Filter: "a/#", QoS: 1}},
		Will: &willRecord{Message: r[1:]}})
	for _, b := range [][]byte{q, r, s, {}, {1}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeQueued(b)
		pid, exp, size, perr := peekQueued(b)
		if err == nil { // what recovery reads of a record agrees with the record
			require.NoError(t, perr)
			require.Equal(t, rec.pid, pid)
			require.Equal(t, expiryNS(rec.d.m.ExpiresAt), exp)
			require.Equal(t, deliverySize(rec.d.m), size)
		}
		_, _ = decodeRetained(b)
		_, _ = decodeSessionRecord(b)
	})
}

func openTestStore(t *testing.T, dir string) *pebblestore.Store {
	t.Helper()
	st, err := pebblestore.Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newStored(t *testing.T, st storage.Store) *Server {
	t.Helper()
	opts := Defaults()
	opts.SysInterval = 0
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.Store = st
	s, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func TestRecover_corruptRecordsAreReportedAndDeleted(t *testing.T) {
	st := openTestStore(t, t.TempDir())
	good, err := json.Marshal(sessionRecord{Proto: 5, Expiry: neverExpire, ConnectedAt: time.Now(), DisconnectedAt: time.Now()})
	require.NoError(t, err)
	var b storage.Batch
	b.Put(sessionKey("good"), good)
	b.Put(sessionKey("bad"), []byte("{not json"))
	b.Put(queueKey("good", 1), []byte{1, 0, 1, 0, 0, 0, 0xff})
	b.Put(retainedKey("t"), []byte("garbage"))
	b.Put([]byte("q/short"), []byte("x"))
	require.NoError(t, st.Apply(&b, true))

	s := newStored(t, st)
	rep := s.Recovery()
	require.Equal(t, 1, rep.Sessions)
	require.Equal(t, 4, rep.Corrupt)
	require.Len(t, rep.CorruptKeys, 4)
	for _, k := range [][]byte{sessionKey("bad"), queueKey("good", 1), retainedKey("t"), []byte("q/short")} {
		_, err := st.Get(k)
		require.ErrorIs(t, err, storage.ErrNotFound, "corrupt record %q deleted", k)
	}
	_, err = st.Get(sessionKey("good"))
	require.NoError(t, err, "good records are kept")
}

func TestRecover_dueWillIsPublishedWhenServing(t *testing.T) {
	st := openTestStore(t, t.TempDir())
	will := &msg.Message{Topic: "devices/lock-9/status", Payload: []byte("offline"), QoS: 1, ClientID: "lock-9", Origin: msg.Origin{Kind: msg.OriginWill}}
	wb, err := appendMessage(nil, will)
	require.NoError(t, err)
	now := time.Now()
	rec, err := json.Marshal(sessionRecord{Proto: 5, Expiry: 3600, ConnectedAt: now.Add(-time.Minute), DisconnectedAt: now.Add(-30 * time.Second),
		Will: &willRecord{FireAt: now.Add(-time.Second), Message: wb}})
	require.NoError(t, err)
	var b storage.Batch
	b.Put(sessionKey("lock-9"), rec)
	require.NoError(t, st.Apply(&b, true))

	s := newStored(t, st)
	require.Equal(t, 1, s.Recovery().Wills)
	got := make(chan msg.Event, 16)
	remove := s.AddEventHandler(EventHandlerFunc(func(ev msg.Event) {
		if ev.Kind == msg.EventMessagePublished {
			got <- ev
		}
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(ln, "tcp") }()
	select {
	case ev := <-got:
		require.Equal(t, "devices/lock-9/status", ev.Message.Topic)
		require.Equal(t, "offline", string(ev.Message.Payload))
	case <-time.After(10 * time.Second):
		t.Fatal("the overdue will was not published once the server served")
	}
	remove() // before Shutdown: removing a handler after it panics (events.go)
	_ = s.Shutdown(context.Background())
	s2 := newStored(t, st)
	require.Zero(t, s2.Recovery().Wills, "a published will is no longer stored")
}
