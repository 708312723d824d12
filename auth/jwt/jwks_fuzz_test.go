package jwt

import "testing"

// FuzzJWKS feeds arbitrary documents to the JWKS reader: it must return
// keys or an error, never panic, and every key it returns must be usable.
func FuzzJWKS(f *testing.F) {
	for _, s := range []string{
		`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`,
		`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-384","x":"","y":""},{"kty":"oct","k":""}]}`,
		`{"keys":null}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseJWKS(data)
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no key")
		}
		for _, k := range keys {
			if k.Public == nil {
				t.Fatal("nil key")
			}
		}
	})
}
