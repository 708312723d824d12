package shadow

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseUpdate feeds arbitrary request documents to the parser and,
// when accepted, applies them to a shadow: nothing panics, an accepted
// update stores a shadow that encodes and decodes again, and its state
// keeps within the limits.
func FuzzParseUpdate(f *testing.F) {
	for _, s := range []string{
		`{"state":{"desired":{"color":"red"}},"clientToken":"a","version":1}`,
		`{"state":{"reported":{"a":{"b":[1,2,{"c":null}]}},"desired":null}}`,
		`{"state":null}`,
		`{"state":{"desired":{"x":1e400}}}`,
		`{"state":{"delta":{}}}`,
		`[]`, `{}`, ``, `{"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}}}`,
	} {
		f.Add([]byte(s))
	}
	base, _ := DecodeDoc([]byte(`{"desired":{"a":1},"reported":{"a":{"b":2}},"meta_desired":{"a":{"timestamp":1}},"meta_reported":{"a":{"b":{"timestamp":1}}},"version":3,"timestamp":1}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, doc := range []*Doc{nil, cloneDoc(t, base)} {
			out := doUpdate(doc, payload, testLimits, 10)
			if out.err != nil {
				require.Nil(t, out.write)
				continue
			}
			b, err := out.write.Encode()
			require.NoError(t, err)
			back, err := DecodeDoc(b)
			require.NoError(t, err)
			size, err := stateSize(back)
			require.NoError(t, err)
			require.LessOrEqual(t, size, testLimits.MaxStateBytes)
			_ = delta(back.Desired, back.Reported)
			require.Nil(t, doGet(back, "t", "", nil, 11).err)
		}
	})
}

func cloneDoc(t *testing.T, d *Doc) *Doc {
	b, err := d.Encode()
	require.NoError(t, err)
	c, err := DecodeDoc(b)
	require.NoError(t, err)
	return c
}
