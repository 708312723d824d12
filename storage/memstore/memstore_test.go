package memstore

import (
	"sync"
	"testing"

	"github.com/iothub-dev/iothub/storage"
	"github.com/iothub-dev/iothub/storage/storetest"
)

// TestMemstore_contract runs the store contract; a "reopened" directory
// gets a store over the same data, as a restart of an on-disk store would.
func TestMemstore_contract(t *testing.T) {
	var mu sync.Mutex
	dirs := map[string]*Store{}
	storetest.Run(t, func(dir string) (storage.Store, error) {
		mu.Lock()
		defer mu.Unlock()
		s := New()
		if old, ok := dirs[dir]; ok {
			s.data, s.keys = old.data, old.keys
		}
		dirs[dir] = s
		return s, nil
	})
}
