package msg

import "testing"

// FuzzParseOrigin: any text parses (never a panic), and an origin of a
// known kind reads back from its text as it was.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"", "client", "rule:a,b", "bridge:north", "upstream:edge-1", "nonsense", ":x", "rule:", "cluster:n1:extra"} {
		f.Add(s, uint8(0))
	}
	f.Add("a,b", uint8(OriginRule))
	f.Fuzz(func(t *testing.T, s string, kind uint8) {
		_ = ParseOrigin(s)
		o := Origin{Kind: OriginKind(int(kind) % len(originNames)), Name: s}
		if o.Kind == OriginUnknown {
			return
		}
		if got := ParseOrigin(o.String()); got != o {
			t.Fatalf("%+v: text %q reads back as %+v", o, o.String(), got)
		}
	})
}
