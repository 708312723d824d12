package memstore

import (
	"bytes"
	"slices"
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
		if op.Delete && op.End != nil {
			j := i
			for j < len(s.keys) && s.keys[j] < string(op.End) {
				delete(s.data, s.keys[j])
				j++
			}
			s.keys = slices.Delete(s.keys, i, j)
			continue
		}
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

// Scan calls fn for every key with prefix, in key order; fn may write to
// the store (see Range).
func (s *Store) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return s.Range(prefix, storage.PrefixEnd(prefix), fn)
}

// rangeChunk is how many keys Range copies under the lock at a time.
const rangeChunk = 64

// Range calls fn for every key in [start, end), in key order, on
// snapshots of up to rangeChunk keys at a time: fn may write to the store.
func (s *Store) Range(start, end []byte, fn func(key, value []byte) error) error {
	from, first := string(start), true
	for {
		keys, vals, err := s.chunk(from, first, end)
		if err != nil {
			return err
		}
		for j, k := range keys {
			if err := fn([]byte(k), vals[j]); err != nil {
				return err
			}
		}
		if len(keys) < rangeChunk {
			return nil
		}
		from, first = keys[len(keys)-1], false
	}
}

// chunk copies up to rangeChunk keys from from (included when first) up to
// end (nil: no end).
func (s *Store) chunk(from string, first bool, end []byte) ([]string, [][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, storage.ErrClosed
	}
	i, found := slices.BinarySearch(s.keys, from)
	if found && !first {
		i++
	}
	var keys []string
	var vals [][]byte
	for ; i < len(s.keys) && len(keys) < rangeChunk && (end == nil || s.keys[i] < string(end)); i++ {
		keys = append(keys, s.keys[i])
		vals = append(vals, s.data[s.keys[i]])
	}
	return keys, vals, nil
}

// Close makes later calls return storage.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

var _ storage.Store = (*Store)(nil)
