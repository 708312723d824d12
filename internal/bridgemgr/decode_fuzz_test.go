package bridgemgr_test

import (
	"errors"
	"testing"

	_ "github.com/iothub-dev/iothub/bridge/kafka"
	_ "github.com/iothub-dev/iothub/bridge/mqtt"
	_ "github.com/iothub-dev/iothub/bridge/postgres"
	_ "github.com/iothub-dev/iothub/bridge/redis"
	_ "github.com/iothub-dev/iothub/bridge/webhook"
	"github.com/iothub-dev/iothub/internal/bridgemgr"
)

// FuzzDecodeDefinition: any body sent to the bridges API decodes to a
// definition or to an error wrapping ErrInvalid (never a panic), and a
// definition decoded for an update carries the updated bridge's name.
func FuzzDecodeDefinition(f *testing.F) {
	for _, s := range []string{
		`{"name":"b","type":"kafka_producer","kafka":{"bootstrap_servers":["127.0.0.1:9092"]},"producer":{"topic":"t"}}`,
		`{"name":"h","type":"webhook","webhook":{"url":"http://127.0.0.1:1/x"},"batch_size":10}`,
		`{"name":"r","type":"redis","redis":{"url":"redis://127.0.0.1:6379"},"producer":{"batch_size":5}}`,
		`{"type":"mqtt","mqtt":{"url":"mqtt://127.0.0.1:1883"}}`,
		`{"name":"p","type":"postgres","postgres":{"url":"postgres://x@127.0.0.1/db","statement":"SELECT 1"}}`,
		`{"name":"x","type":"nope"}`, `{"name":1}`, `[]`, ``, `{"type":"webhook","kafka":{}}`,
	} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "b")
	}
	f.Fuzz(func(t *testing.T, body []byte, name string) {
		def, _, err := bridgemgr.DecodeDefinition(body, name)
		if err != nil {
			if !errors.Is(err, bridgemgr.ErrInvalid) {
				t.Fatalf("error not wrapping ErrInvalid: %v", err)
			}
			return
		}
		if name != "" && def.Name != name {
			t.Fatalf("update of %q decoded as %q", name, def.Name)
		}
	})
}
