package auth

import (
	"testing"
)

// FuzzDecodeBans feeds arbitrary bytes to the ban file decoder: it must
// never panic, and every ban it accepts must be accepted by Add and survive
// an encode/decode round trip.
func FuzzDecodeBans(f *testing.F) {
	f.Add([]byte(`{"version":1,"bans":[]}`))
	f.Add([]byte(`{"version":1,"bans":[{"kind":"client_id","value":"lock-7","reason":"stolen","created":"2025-01-02T03:04:05Z"}]}`))
	f.Add([]byte(`{"version":1,"bans":[{"kind":"address","value":"2001:db8::/32","until":"2030-01-01T00:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		bans, err := DecodeBans(data)
		if err != nil {
			return
		}
		list := NewBanList()
		for _, ban := range bans {
			if err := list.Add(ban); err != nil {
				t.Fatalf("decoded ban %+v refused by Add: %v", ban, err)
			}
		}
		enc, err := EncodeBans(bans)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		again, err := DecodeBans(enc)
		if err != nil {
			t.Fatalf("decode of encoded bans: %v\n%s", err, enc)
		}
		if len(again) != len(bans) {
			t.Fatalf("round trip: %d bans, want %d", len(again), len(bans))
		}
	})
}
