package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iothub-dev/iothub/internal/cluster"
	"github.com/iothub-dev/iothub/internal/device/shadow"
)

// shadowTimeout bounds one replicated shadow read or write.
const shadowTimeout = 10 * time.Second

// clusterShadows is shadow.RevKV on the cluster's replicated shadow
// bucket: with a cluster, every node serves the same shadows. The node is
// looked up at each call (the shadow service starts before the cluster).
type clusterShadows struct{ a *App }

func (c clusterShadows) bucket() (*cluster.Bucket, error) {
	if c.a.cluster == nil {
		return nil, errors.New("shadows: the cluster is not running")
	}
	return c.a.cluster.Shadows(), nil
}

// Get implements shadow.RevKV.
func (c clusterShadows) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	b, err := c.bucket()
	if err != nil {
		return nil, 0, err
	}
	v, rev, err := b.Get(ctx, key)
	if errors.Is(err, cluster.ErrNoKey) {
		return nil, 0, shadow.ErrNotFound
	}
	return v, rev, err
}

// Put implements shadow.RevKV.
func (c clusterShadows) Put(ctx context.Context, key string, value []byte, rev uint64) error {
	b, err := c.bucket()
	if err != nil {
		return err
	}
	if err := b.Put(ctx, key, value, rev); err != nil {
		if errors.Is(err, cluster.ErrRevision) {
			return fmt.Errorf("%w: %w", shadow.ErrConflict, err)
		}
		return err
	}
	return nil
}

// Keys implements shadow.RevKV.
func (c clusterShadows) Keys(ctx context.Context, prefix string) ([]string, error) {
	b, err := c.bucket()
	if err != nil {
		return nil, err
	}
	return b.Keys(ctx, prefix)
}

// shadowStore is where the shadow service keeps shadows: the cluster's
// replicated bucket on a cluster, the hub's store otherwise.
func (a *App) shadowStore() shadow.Store {
	if a.cfg.Cluster.Enabled() {
		return shadow.NewRevStore(clusterShadows{a}, shadowTimeout)
	}
	return shadow.NewKVStore(a.deviceStore(), a.cfg.Storage.Durability != "os")
}
