package upstream

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/msg"
	"github.com/iothub-dev/iothub/storage"
	"github.com/iothub-dev/iothub/storage/pebblestore"
)

func fwd(client, seq string) *msg.Message {
	m := &msg.Message{ClientID: client, Topic: "t"}
	if seq != "" {
		m.UserProperties = []msg.UserProperty{{Key: "x", Value: "y"}, {Key: PropOrigin, Value: "edge1"}, {Key: PropSeq, Value: seq}}
	}
	return m
}

// route is the broker's part: Duplicate, then Routed when it was not.
func route(d *Dedup, m *msg.Message) bool {
	if d.Duplicate(m) {
		return true
	}
	_, _ = d.Routed(m)
	return false
}

func TestDedup_Duplicate(t *testing.T) {
	steps := []struct {
		client, seq string
		dup         bool
	}{
		{"e1", "", false},        // no properties: never a duplicate
		{"e1", "", false},        // (and nothing recorded)
		{"e1", "aa:1", false},    // first of an epoch
		{"e1", "aa:2", false},    // next
		{"e1", "aa:2", true},     // resend
		{"e1", "aa:1", true},     // older resend
		{"e1", "bb:1", false},    // a new epoch (the edge restarted)
		{"e1", "aa:3", false},    // the old epoch still drains
		{"e2", "aa:3", false},    // another link: its own key space
		{"e1", "aa:0", false},    // 0 is not a sequence number
		{"e1", "garbage", false}, // malformed
		{"e1", "aa:x", false},    // malformed
	}
	d, err := OpenDedup(nil, "", 100, nil)
	require.NoError(t, err)
	for i, s := range steps {
		require.Equal(t, s.dup, route(d, fwd(s.client, s.seq)), "step %d %+v", i, s)
	}
	st := d.Stats()
	require.Equal(t, uint64(2), st.Hits)
	require.Equal(t, 3, st.Origins)
}

func TestDedup_survivesRestart(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDedup(nil, dir, 100, nil)
	require.NoError(t, err)
	requested := 0
	d.SetRequestSync(func() { requested++ })
	for i, seq := range []string{"aa:1", "aa:2", "aa:3", "bb:7"} {
		require.False(t, route(d, fwd("e1", seq)), i)
	}
	require.Equal(t, 4, requested, "each routed message asks for a sync")
	require.False(t, d.Duplicate(fwd("e1", "aa:4")), "being routed: no mark written yet")
	require.NoError(t, d.Sync(false))
	data, err := os.ReadFile(filepath.Join(dir, DedupFile))
	require.NoError(t, err)
	require.Empty(t, data, "nothing is written before the commit that holds the messages is staged")
	d.Stage()
	require.NoError(t, d.Sync(false))
	// No Close: a killed process leaves what Sync wrote, plus a torn line.
	f, err := os.OpenFile(filepath.Join(dir, DedupFile), os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(`"e1\x00cc" 9`) // no newline, and a bad quote: ignored
	require.NoError(t, err)
	require.NoError(t, f.Close())

	d2, err := OpenDedup(nil, dir, 100, nil)
	require.NoError(t, err)
	require.True(t, d2.Duplicate(fwd("e1", "aa:3")))
	require.True(t, d2.Duplicate(fwd("e1", "bb:7")))
	require.False(t, route(d2, fwd("e1", "aa:4")), "its mark was never routed")
	require.NoError(t, d2.Close())
	d3, err := OpenDedup(nil, dir, 100, nil)
	require.NoError(t, err)
	require.True(t, d3.Duplicate(fwd("e1", "aa:4")), "Close writes pending marks")
}

func TestDedup_boundedOrigins(t *testing.T) {
	d, err := OpenDedup(nil, t.TempDir(), 2, nil)
	require.NoError(t, err)
	require.False(t, route(d, fwd("e1", "aa:5")))
	require.False(t, route(d, fwd("e2", "aa:5")))
	require.True(t, route(d, fwd("e1", "aa:5")))  // e1 is now the most recent
	require.False(t, route(d, fwd("e3", "aa:5"))) // evicts e2
	st := d.Stats()
	require.Equal(t, 2, st.Origins)
	require.Equal(t, uint64(1), st.Evicted)
	require.False(t, route(d, fwd("e2", "aa:5")), "an evicted mark is forgotten")
	require.True(t, d.Duplicate(fwd("e3", "aa:5")))
}

func TestDedup_compacts(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDedup(nil, dir, 10, nil)
	require.NoError(t, err)
	for i := 1; i <= 20000; i++ {
		require.False(t, route(d, fwd("e1", "aa:"+strconv.Itoa(i))))
		d.Stage()
		require.NoError(t, d.Sync(false))
	}
	fi, err := os.Stat(filepath.Join(dir, DedupFile))
	require.NoError(t, err)
	require.Less(t, fi.Size(), int64(20000*10), "the log is rewritten when it grows")
	require.NoError(t, d.Close())
	d2, err := OpenDedup(nil, dir, 10, nil)
	require.NoError(t, err)
	require.True(t, d2.Duplicate(fwd("e1", "aa:20000")))
}

// TestDedup_inTheStore: with the hub's store, a mark is a record that the
// broker writes with the message (Routed returns it), and a restarted
// centre loads the marks from the store.
func TestDedup_inTheStore(t *testing.T) {
	st, err := pebblestore.Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	d, err := OpenDedup(st, "", 100, nil)
	require.NoError(t, err)
	m := fwd("e1", "aa:7")
	require.False(t, d.Duplicate(m))
	k, v := d.Routed(m)
	require.NotNil(t, k)
	require.True(t, d.Duplicate(fwd("e1", "aa:7")), "in memory at once")
	require.NoError(t, st.Apply(&storage.Batch{Ops: []storage.Op{{Key: k, Value: v}}}, true))

	d2, err := OpenDedup(st, "", 100, nil)
	require.NoError(t, err)
	require.True(t, d2.Duplicate(fwd("e1", "aa:7")))
	require.True(t, d2.Duplicate(fwd("e1", "aa:3")))
	require.False(t, d2.Duplicate(fwd("e1", "aa:8")))
	require.False(t, d2.Duplicate(fwd("e2", "aa:1")), "another link's key space")
	require.NoError(t, d2.Sync(true), "nothing to write outside the store")
}
