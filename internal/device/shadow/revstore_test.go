package shadow

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/stretchr/testify/require"
)

// memRevKV is a RevKV in memory. before, when set, runs before each Put
// (another node writing meanwhile).
type memRevKV struct {
	mu     sync.Mutex
	vals   map[string][]byte
	revs   map[string]uint64
	seq    uint64
	before func(key string)
}

func newMemRevKV() *memRevKV { return &memRevKV{vals: map[string][]byte{}, revs: map[string]uint64{}} }

func (m *memRevKV) Get(_ context.Context, key string) ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[key]
	if !ok {
		return nil, 0, ErrNotFound
	}
	return v, m.revs[key], nil
}

func (m *memRevKV) Put(_ context.Context, key string, value []byte, rev uint64) error {
	if f := m.before; f != nil {
		m.before = nil
		f(key)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revs[key] != rev {
		return ErrConflict
	}
	m.seq++
	m.vals[key], m.revs[key] = value, m.seq
	return nil
}

func (m *memRevKV) Keys(_ context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.vals {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// twoNodes is two shadow services (two hubs of a cluster) on one RevKV.
func twoNodes(t *testing.T, kv *memRevKV) (*Service, *Service) {
	t.Helper()
	var s [2]*Service
	for i := range s {
		s[i] = New(Options{Store: NewRevStore(kv, 5*time.Second), Publisher: testutil.NewPublisher(), Workers: 2, QueueSize: 16})
		t.Cleanup(func() { require.NoError(t, s[i].Close(context.Background())) })
	}
	return s[0], s[1]
}

func TestRevStore(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, kv *memRevKV, a, b *Service)
	}{
		{"updated on one node, read on the other", func(t *testing.T, _ *memRevKV, a, b *Service) {
			_, err := a.Update(ctx, "lock-1", "", []byte(`{"state":{"desired":{"lock_state":1}}}`))
			require.NoError(t, err)
			_, err = b.Update(ctx, "lock-1", "", []byte(`{"state":{"reported":{"lock_state":0}}}`))
			require.NoError(t, err)
			got, err := a.Get(ctx, "lock-1", "")
			require.NoError(t, err)
			g := decode(t, got)
			require.Equal(t, 2.0, g["version"])
			require.Equal(t, map[string]any{"lock_state": 1.0}, g["state"].(map[string]any)["desired"])
			require.Equal(t, map[string]any{"lock_state": 0.0}, g["state"].(map[string]any)["reported"])
			require.Equal(t, map[string]any{"lock_state": 1.0}, g["state"].(map[string]any)["delta"])
		}},
		{"a write from another node in between: computed again, nothing lost", func(t *testing.T, kv *memRevKV, a, b *Service) {
			_, err := a.Update(ctx, "lock-2", "", []byte(`{"state":{"reported":{"x":1}}}`))
			require.NoError(t, err)
			kv.mu.Lock()
			kv.before = func(string) {
				_, err := b.Update(ctx, "lock-2", "", []byte(`{"state":{"reported":{"y":2}}}`))
				require.NoError(t, err)
			}
			kv.mu.Unlock()
			_, err = a.Update(ctx, "lock-2", "", []byte(`{"state":{"reported":{"z":3}},"version":1}`))
			require.Error(t, err, "version 1 is stale once the other node wrote version 2")
			_, err = a.Update(ctx, "lock-2", "", []byte(`{"state":{"reported":{"z":3}}}`))
			require.NoError(t, err)
			got, err := b.Get(ctx, "lock-2", "")
			require.NoError(t, err)
			g := decode(t, got)
			require.Equal(t, 3.0, g["version"])
			require.Equal(t, map[string]any{"x": 1.0, "y": 2.0, "z": 3.0}, g["state"].(map[string]any)["reported"])
		}},
		{"named shadows listed from any node, deleted ones not", func(t *testing.T, _ *memRevKV, a, b *Service) {
			for _, n := range []string{"ota", "config", "battery:main"} {
				_, err := a.Update(ctx, "lock-3", n, []byte(`{"state":{"reported":{"v":1}}}`))
				require.NoError(t, err)
			}
			_, err := b.Delete(ctx, "lock-3", "config")
			require.NoError(t, err)
			names, more, err := b.Names("lock-3", "", 10)
			require.NoError(t, err)
			require.False(t, more)
			require.Equal(t, []string{"battery:main", "ota"}, names)
			names, more, err = a.Names("lock-3", "", 1)
			require.NoError(t, err)
			require.True(t, more)
			require.Equal(t, []string{"battery:main"}, names)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := newMemRevKV()
			a, b := twoNodes(t, kv)
			tc.run(t, kv, a, b)
		})
	}
}
