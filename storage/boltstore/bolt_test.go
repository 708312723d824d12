package boltstore_test

import (
	"fmt"
	"testing"

	"github.com/iothub-dev/iothub/storage"
	"github.com/iothub-dev/iothub/storage/boltstore"
	"github.com/iothub-dev/iothub/storage/storetest"
)

func open(dir string) (storage.Store, error) { return boltstore.Open(dir) }

func TestContract(t *testing.T) { storetest.Run(t, open) }

func BenchmarkPersist(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, w := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("sync=%v/writers=%d", sync, w), func(b *testing.B) { storetest.BenchmarkPersist(b, open, w, sync) })
		}
	}
}
