package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// bucketShadows holds the devices' shadows (docs/devices.md), so that
// every node serves the same ones.
const bucketShadows = "iothub_shadows"

// ErrNoKey is returned by Bucket.Get for a key without a value.
var ErrNoKey = errors.New("cluster: no such key")

// ErrRevision is returned by Bucket.Put when the key's revision is not the
// expected one (written meanwhile, maybe by another node).
var ErrRevision = errors.New("cluster: revision mismatch")

// createShadowBucket makes the shadows' stream like the registry's: reads
// go to the stream's leader (no direct get), so that a read is never older
// than the revision a write must compare with.
func (n *Node) createShadowBucket(ctx context.Context) error {
	_, err := n.st.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "KV_" + bucketShadows, Description: "iothub: device shadows",
		Subjects: []string{"$KV." + bucketShadows + ".>"}, MaxMsgsPerSubject: 1, MaxBytes: -1, MaxMsgs: -1, MaxMsgSize: -1,
		MaxConsumers: -1, Storage: jetstream.FileStorage, Replicas: n.opts.Replicas, AllowRollup: true, DenyDelete: true,
		Duplicates: 2 * time.Minute, Discard: jetstream.DiscardNew,
	})
	if err == nil {
		n.st.shadows, err = n.st.js.KeyValue(ctx, bucketShadows)
	}
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucketShadows, err)
	}
	return nil
}

// Shadows returns the replicated bucket of the devices' shadows.
func (n *Node) Shadows() *Bucket { return &Bucket{n: n} }

// Bucket is a replicated key-value bucket whose writes compare and set on
// the key's revision. Its calls wait (bounded by their context) until the
// replicated state is ready.
type Bucket struct{ n *Node }

func (b *Bucket) kv(ctx context.Context) (jetstream.KeyValue, error) {
	if err := b.n.waitReady(ctx); err != nil {
		return nil, err
	}
	return b.n.st.shadows, nil
}

// Get returns key's value and revision, or ErrNoKey.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	kv, err := b.kv(ctx)
	if err != nil {
		return nil, 0, err
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, ErrNoKey
	}
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: %s %s: %w", bucketShadows, key, err)
	}
	return e.Value(), e.Revision(), nil
}

// Put writes key if its revision is rev (0: no value yet), or returns
// ErrRevision.
func (b *Bucket) Put(ctx context.Context, key string, value []byte, rev uint64) error {
	kv, err := b.kv(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.Update(ctx, key, value, rev); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("%w: %s %s: %w", ErrRevision, bucketShadows, key, err)
		}
		return fmt.Errorf("cluster: %s %s: %w", bucketShadows, key, err)
	}
	return nil
}

// Keys returns the bucket's keys that start with prefix (which must end
// with a dot: a whole token).
func (b *Bucket) Keys(ctx context.Context, prefix string) ([]string, error) {
	kv, err := b.kv(ctx)
	if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeysFiltered(ctx, prefix+">")
	if err != nil {
		return nil, fmt.Errorf("cluster: %s keys: %w", bucketShadows, err)
	}
	defer func() { _ = lister.Stop() }()
	var keys []string
	for {
		select {
		case k, ok := <-lister.Keys():
			if !ok {
				return keys, nil
			}
			if strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: %s keys: %w", bucketShadows, ctx.Err())
		}
	}
}
