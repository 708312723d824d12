package bridgemgr_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/bridgemgr"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/msg"
)

// TestManager_syncWritesEveryQueue: with several bridges, one Sync (the
// broker's group commit; they are synced in parallel) writes what a rule
// appended to each bridge's durable queue, and the appends asked for it.
func TestManager_syncWritesEveryQueue(t *testing.T) {
	dir := t.TempDir()
	names := []string{"a", "b", "c"}
	yaml := "data_dir: " + dir + "\nbridges:\n"
	var actions []rule.ActionSpec
	for _, n := range names {
		yaml += "  - {name: " + n + ", type: lines, lines: {path: " + filepath.Join(dir, n+".txt") + "}}\n"
		actions = append(actions, rule.ActionSpec{"type": "bridge", "bridge": n})
	}
	cfg, err := config.Parse([]byte(yaml), "t.yaml")
	require.NoError(t, err)
	var requests atomic.Int64
	mgr, rr := startWithRules(t, bridgemgr.Options{DataDir: dir, RequestSync: func() { requests.Add(1) }}, cfg.Bridges)
	_, err = rr.Create(rule.Rule{ID: "r", SQL: `SELECT payload FROM "tp/#"`, Enabled: true, Actions: actions})
	require.NoError(t, err)

	rr.HandleEventInline(context.Background(), &msg.Event{Kind: msg.EventMessagePublished, ClientID: "d1", Time: time.Now(),
		Message: &msg.Message{Topic: "tp/d1", Payload: []byte("marker-7f3a"), ClientID: "d1", QoS: 1}})
	require.EqualValues(t, len(names), requests.Load(), "each append asks for a sync")
	require.NoError(t, mgr.Sync(true))
	for _, n := range names {
		segs, err := filepath.Glob(filepath.Join(dir, "bridges", n, "*.seg"))
		require.NoError(t, err)
		var all []byte
		for _, s := range segs {
			b, err := os.ReadFile(s)
			require.NoError(t, err)
			all = append(all, b...)
		}
		require.True(t, bytes.Contains(all, []byte("marker-7f3a")), "bridge %s: the record is in its queue file after Sync", n)
	}
}
