package packet_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/mqtt/packet/packettest"
)

// fuzzMaxSize bounds the packets the fuzzer may make ReadPacket allocate.
const fuzzMaxSize = 1 << 16

// FuzzDecode feeds arbitrary bytes to ReadPacket for 3.1.1 and 5.0 and to
// CONNECT decoding with an unknown version. Decoding must never panic, and
// whatever decodes must encode and decode again to an equal packet.
func FuzzDecode(f *testing.F) {
	for _, tc := range packettest.Cases {
		f.Add(tc.Raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []packet.Version{packet.V311, packet.V5, 0} {
			p, err := packet.ReadPacket(bytes.NewReader(data), v, fuzzMaxSize)
			if err != nil {
				continue
			}
			ev := v
			if c, ok := p.(*packet.Connect); ok { // CONNECT carries its own version
				ev = c.Version
			}
			raw, err := p.AppendTo(nil, ev)
			if err != nil {
				t.Fatalf("version %v: decoded %#v but encoding failed: %v", v, p, err)
			}
			if n, err := packet.Size(p, ev); err != nil || n != len(raw) {
				t.Fatalf("version %v: Size = %d, %v; encoded %d bytes", v, n, err, len(raw))
			}
			again, err := packet.ReadPacket(bytes.NewReader(raw), v, 0)
			if err != nil {
				t.Fatalf("version %v: re-decoding % x: %v", v, raw, err)
			}
			if !reflect.DeepEqual(p, again) {
				t.Fatalf("version %v: round trip differs:\n got %#v\nwant %#v", v, again, p)
			}
		}
	})
}

var writeCorpus = flag.Bool("write-corpus", false, "write testdata/fuzz/FuzzDecode seeds from packettest.Cases")

// TestWriteFuzzCorpus writes the checked-in seed corpus of FuzzDecode from
// a selection of packettest cases. Run it once with -write-corpus when the
// table changes; without the flag it only checks that the seeds parse.
func TestWriteFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if !*writeCorpus {
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.NotEmpty(t, entries)
		return
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for i, tc := range packettest.Cases {
		if i%7 != 0 && tc.WantErr == 0 && len(tc.Raw) < 60 {
			continue
		}
		if tc.WantErr != 0 && i%5 != 0 {
			continue
		}
		name := "seed-" + sanitize(tc.Name)
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", tc.Raw)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
