// Package boltstore implements storage.Store on go.etcd.io/bbolt, a
// copy-on-write B+tree in one file. Kept for comparison (see
// docs/persistence.md); iothub uses pebblestore.
package boltstore

import (
	"bytes"
	"fmt"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/iothub-dev/iothub/storage"
)

var bucket = []byte("iothub")

// Store is a bbolt database file in a directory.
type Store struct {
	db *bolt.DB
}

// Open opens (creating if needed) dir/iothub.db.
func Open(dir string) (*Store, error) {
	db, err := bolt.Open(filepath.Join(dir, "iothub.db"), 0o600, nil)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return &Store{db: db}, nil
}

// Get implements storage.Store.
func (s *Store) Get(key []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get(key)
		if v == nil {
			return storage.ErrNotFound
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// Apply implements storage.Store. Every batch is synced (bbolt has no safe
// per-transaction NoSync); batches go through bbolt's Batch, which coalesces
// concurrent callers into one transaction and one fsync.
func (s *Store) Apply(b *storage.Batch, _ bool) error {
	fn := func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucket)
		for _, op := range b.Ops {
			var err error
			if op.Delete {
				err = bk.Delete(op.Key)
			} else {
				err = bk.Put(op.Key, op.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := s.db.Batch(fn); err != nil {
		return fmt.Errorf("store commit: %w", err)
	}
	return nil
}

// Scan implements storage.Store.
func (s *Store) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if err := fn(k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Close implements storage.Store.
func (s *Store) Close() error { return s.db.Close() }

var _ storage.Store = (*Store)(nil)
