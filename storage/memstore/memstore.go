package memstore

import (
	"bytes"
	"slices"
	"sort"
	"sync"

	"github.com/iothub-dev/iothub/storage"
)

// Store is an in-memory storage.Store.
type Store struct {
	mu     sync.RWMutex
	data   map[string][]byte
	keys   []string // sorted
	closed bool
}

// New returns an empty store.
func New() *Store { return &Store{data: map[string][]byte{}} }

// Get returns a copy of the value under key, or storage.ErrNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	v, ok := s.data[string(key)]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Apply writes b atomically; sync has no meaning in memory.
func (s *Store) Apply(b *storage.Batch, _ bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	for _, op := range b.Ops {
		k := string(op.Key)
		i, found := slices.BinarySearch(s.keys, k)
		if op.Delete {
			if found {
				s.keys = slices.Delete(s.keys, i, i+1)
				delete(s.data, k)
			}
			continue
		}
		if !found {
			s.keys = slices.Insert(s.keys, i, k)
		}
		s.data[k] = bytes.Clone(op.Value)
	}
	return nil
}

// Scan calls fn for every key with prefix, in key order, on a snapshot of
// the keys: fn may write to the store.
func (s *Store) Scan(prefix []byte, fn func(key, value []byte) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return storage.ErrClosed
	}
	p := string(prefix)
	i := sort.SearchStrings(s.keys, p)
	var keys []string
	var vals [][]byte
	for ; i < len(s.keys) && len(s.keys[i]) >= len(p) && s.keys[i][:len(p)] == p; i++ {
		keys = append(keys, s.keys[i])
		vals = append(vals, s.data[s.keys[i]])
	}
	s.mu.RUnlock()
	for j, k := range keys {
		if err := fn([]byte(k), vals[j]); err != nil {
			return err
		}
	}
	return nil
}

// Close makes later calls return storage.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

var _ storage.Store = (*Store)(nil)
