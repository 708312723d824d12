package pebblestore

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/iothub-dev/iothub/storage"
)

// Store is a pebble database in one directory.
type Store struct {
	db *pebble.DB
}

// Open opens (creating if needed) the database in dir. A directory holding
// a corrupt or truncated database is refused with an error that says so;
// it is never silently emptied.
func Open(dir string) (*Store, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return &Store{db: db}, nil
}

// Get implements storage.Store.
func (s *Store) Get(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store get: %w", err)
	}
	out := bytes.Clone(v)
	_ = closer.Close()
	return out, nil
}

// Apply implements storage.Store.
func (s *Store) Apply(b *storage.Batch, sync bool) error {
	pb := s.db.NewBatch()
	defer func() { _ = pb.Close() }() // an applied or failed batch has nothing left to report
	for _, op := range b.Ops {
		var err error
		switch {
		case op.Delete && op.End != nil:
			err = pb.DeleteRange(op.Key, op.End, nil)
		case op.Delete:
			err = pb.Delete(op.Key, nil)
		default:
			err = pb.Set(op.Key, op.Value, nil)
		}
		if err != nil {
			return fmt.Errorf("store batch: %w", err)
		}
	}
	opts := pebble.NoSync
	if sync {
		opts = pebble.Sync
	}
	if err := pb.Commit(opts); err != nil {
		return fmt.Errorf("store commit: %w", err)
	}
	return nil
}

// Scan implements storage.Store.
func (s *Store) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return s.Range(prefix, storage.PrefixEnd(prefix), fn)
}

// Range implements storage.Store.
func (s *Store) Range(start, end []byte, fn func(key, value []byte) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return fmt.Errorf("store scan: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			_ = it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("store scan: %w", err)
	}
	return nil
}

// Close implements storage.Store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store close: %w", err)
	}
	return nil
}

// quietLogger drops pebble's informational chatter; errors surface through
// return values.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}

// Fatalf is called by pebble only on an internal invariant violation (a
// corruption found while running); pebble requires it not to return.
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

var _ storage.Store = (*Store)(nil)
