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
	// Put stores doc when the stored version is prev (0: nothing stored),
	// else returns ErrConflict. It does not keep doc.
	Put(thing, name string, doc *Doc, prev uint64) error
	// Names returns up to limit names of thing's existing named shadows,
	// in order, after the name after; more reports whether others follow.
	Names(thing, after string, limit int) (names []string, more bool, err error)
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

// Put implements Store.
func (s *KVStore) Put(thing, name string, doc *Doc, prev uint64) error {
	b, err := doc.Encode()
	if err != nil {
		return fmt.Errorf("shadow %s/%s: encode: %w", thing, name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var stored uint64
	switch cur, err := s.Get(thing, name); {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	default:
		stored = cur.Version
	}
	if stored != prev {
		return fmt.Errorf("shadow %s/%s: stored version %d, expected %d: %w", thing, name, stored, prev, ErrConflict)
	}
	var batch storage.Batch
	batch.Put(key(thing, name), b)
	if err := s.st.Apply(&batch, s.sync); err != nil {
		return fmt.Errorf("shadow %s/%s: write: %w", thing, name, err)
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
