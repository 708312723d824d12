package shadow

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/iothub-dev/iothub/storage"
)

// Store keeps shadows. It is the seam where a replicated store (the
// cluster's JetStream KV) replaces the embedded one: Put is a
// compare-and-set on the version, which maps onto a KV revision check.
//
// Implementations must be safe for concurrent use. The service calls them
// from its workers, one worker per thing, so calls for one shadow never
// overlap on a single node.
type Store interface {
	// Get returns the shadow of thing named name ("" for the classic
	// shadow), deleted ones included, or ErrNotFound. The caller owns the
	// result and may modify it.
	Get(thing, name string) (*Doc, error)
	// Put stores each write's shadow when the stored version is the
	// write's Prev (0: nothing stored; a later write for the same shadow
	// expects the earlier one's version), all or none: otherwise it
	// returns ErrConflict. It does not keep the documents.
	Put(writes []Write) error
	// Names returns up to limit names of thing's existing named shadows,
	// in order, after the name after; more reports whether others follow.
	Names(thing, after string, limit int) (names []string, more bool, err error)
}

// Write is one shadow to store with Store.Put.
type Write struct {
	Thing, Name string
	Doc         *Doc
	// Prev is the version the store must hold before the write.
	Prev uint64
}

// KVStore is the Store on the hub's storage.Store (pebble): one record per
// shadow under "shadow/{thing}/{name}".
type KVStore struct {
	st   storage.Store
	sync bool
	mu   sync.Mutex // makes Put's check-and-write atomic
}

// NewKVStore returns the Store on st; with sync, a Put returns once the
// shadow is durable (fsync).
func NewKVStore(st storage.Store, sync bool) *KVStore { return &KVStore{st: st, sync: sync} }

// keyPrefix is the prefix of every shadow record.
const keyPrefix = "shadow/"

func key(thing, name string) []byte { return []byte(keyPrefix + thing + "/" + name) }

// Get implements Store.
func (s *KVStore) Get(thing, name string) (*Doc, error) {
	b, err := s.st.Get(key(thing, name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("shadow %s/%s: %w", thing, name, err)
	}
	d, err := DecodeDoc(b)
	if err != nil {
		return nil, fmt.Errorf("shadow %s/%s: corrupt record: %w", thing, name, err)
	}
	return d, nil
}

// Put implements Store: one batch, one fsync (with sync) for all writes.
func (s *KVStore) Put(writes []Write) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var batch storage.Batch
	stored := map[string]uint64{}
	for _, w := range writes {
		k := string(key(w.Thing, w.Name))
		cur, seen := stored[k]
		if !seen {
			switch d, err := s.Get(w.Thing, w.Name); {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				return err
			default:
				cur = d.Version
			}
		}
		if cur != w.Prev {
			return fmt.Errorf("shadow %s/%s: stored version %d, expected %d: %w", w.Thing, w.Name, cur, w.Prev, ErrConflict)
		}
		b, err := w.Doc.Encode()
		if err != nil {
			return fmt.Errorf("shadow %s/%s: encode: %w", w.Thing, w.Name, err)
		}
		batch.Put([]byte(k), b)
		stored[k] = w.Doc.Version
	}
	if err := s.st.Apply(&batch, s.sync); err != nil {
		return fmt.Errorf("shadow: write %d shadows: %w", len(writes), err)
	}
	return nil
}

// errStop ends a Scan early.
var errStop = errors.New("stop")

// Names implements Store.
func (s *KVStore) Names(thing, after string, limit int) ([]string, bool, error) {
	prefix := keyPrefix + thing + "/"
	var names []string
	more := false
	err := s.st.Scan([]byte(prefix), func(k, v []byte) error {
		name := strings.TrimPrefix(string(k), prefix)
		if name == "" || name <= after {
			return nil
		}
		d, err := DecodeDoc(v)
		if err != nil || !d.Exists() {
			return nil //nolint:nilerr // corrupt and deleted shadows are not listed
		}
		if len(names) == limit {
			more = true
			return errStop
		}
		names = append(names, name)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, false, fmt.Errorf("shadow names of %s: %w", thing, err)
	}
	return names, more, nil
}

var _ Store = (*KVStore)(nil)
