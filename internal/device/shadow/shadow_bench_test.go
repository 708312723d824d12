package shadow

import (
	"context"
	"fmt"
	"testing"

	"github.com/iothub-dev/iothub/msg"
	"github.com/iothub-dev/iothub/storage/pebblestore"
)

// BenchmarkUpdate_document is the pure cost of one reported update on a
// shadow of a door lock: parse, merge, metadata, delta, documents.
func BenchmarkUpdate_document(b *testing.B) {
	doc, _ := DecodeDoc([]byte(`{"desired":{"lock_state":0},"reported":{"lock_state":1,"battery":80},"version":5,"timestamp":1}`))
	payload := []byte(`{"state":{"reported":{"lock_state":1,"battery":83.4,"action":"unlock"}},"clientToken":"c-1"}`)
	b.ReportAllocs()
	for b.Loop() {
		d := *doc
		if out := doUpdate(&d, payload, testLimits, 2); out.err != nil {
			b.Fatal(out.err)
		}
	}
}

// nopPublisher drops what it is given.
type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, *msg.Message) (int, error) { return 1, nil }

// BenchmarkUpdate_service runs updates through the service on pebble,
// synced (durability fsync) or not, from 1,000 things in parallel: the
// rate a hub sustains with the default 4 workers.
func BenchmarkUpdate_service(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("fsync=%t", sync), func(b *testing.B) {
			st, err := pebblestore.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			s := New(Options{Store: NewKVStore(st, sync), Publisher: nopPublisher{}})
			defer s.Close(context.Background())
			payload := []byte(`{"state":{"reported":{"lock_state":1,"battery":83.4}}}`)
			b.ReportAllocs()
			b.SetParallelism(64)
			var n int64
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					thingName := fmt.Sprintf("lock-%d", (i*7919+int(n))%1000)
					if _, err := s.Update(context.Background(), thingName, "", payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
