package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// ErrBadJWKS is returned (wrapped) for a JWKS document or key that cannot
// be used.
var ErrBadJWKS = errors.New("jwt: invalid JWKS")

// Key is one verification key of a JWKS: *rsa.PublicKey,
// *ecdsa.PublicKey (P-256) or []byte (an HMAC secret, kty "oct").
type Key struct {
	// ID is the key's "kid" ("" when absent).
	ID string
	// Alg is the key's "alg" ("" when absent).
	Alg string
	// Public is the key.
	Public any
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	K   string `json:"k"`
}

// ParseJWKS reads a JSON Web Key Set (RFC 7517) holding RSA, P-256 EC and
// symmetric keys. Keys with "use" other than "sig", and of other types or
// curves, are skipped; a set with no usable key is an error.
func ParseJWKS(data []byte) ([]Key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadJWKS, err)
	}
	var keys []Key
	var errs []error
	for i, raw := range set.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			errs = append(errs, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub, err := k.public()
		if err != nil {
			errs = append(errs, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err))
			continue
		}
		if pub != nil {
			keys = append(keys, Key{ID: k.Kid, Alg: k.Alg, Public: pub})
		}
	}
	if len(keys) == 0 {
		errs = append(errs, errors.New("no usable key"))
		return nil, fmt.Errorf("%w: %w", ErrBadJWKS, errors.Join(errs...))
	}
	return keys, nil
}

// public returns the key, or nil for a type this reader skips.
func (k *jwk) public() (any, error) {
	switch k.Kty {
	case "RSA":
		return k.rsa()
	case "EC":
		if k.Crv != "P-256" {
			return nil, nil
		}
		return k.ec()
	case "oct":
		secret, err := b64(k.K, "k")
		if err != nil {
			return nil, err
		}
		if len(secret) == 0 {
			return nil, errors.New("empty k")
		}
		return secret, nil
	}
	return nil, nil
}

func (k *jwk) rsa() (*rsa.PublicKey, error) {
	n, err := b64(k.N, "n")
	if err != nil {
		return nil, err
	}
	e, err := b64(k.E, "e")
	if err != nil {
		return nil, err
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New("e must be 1 to 4 bytes")
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	mod := new(big.Int).SetBytes(n)
	if exp < 3 || exp%2 == 0 || mod.BitLen() < 2048 || mod.BitLen() > 8192 {
		return nil, fmt.Errorf("unusable RSA key (%d bits, e=%d): need 2048 to 8192 bits and an odd e ≥ 3", mod.BitLen(), exp)
	}
	return &rsa.PublicKey{N: mod, E: exp}, nil
}

func (k *jwk) ec() (*ecdsa.PublicKey, error) {
	x, err := b64(k.X, "x")
	if err != nil {
		return nil, err
	}
	y, err := b64(k.Y, "y")
	if err != nil {
		return nil, err
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, errors.New("P-256 x and y must be 32 bytes")
	}
	// The uncompressed point encoding, parsed by crypto/ecdh rules: it
	// rejects points not on the curve.
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("P-256 point: %w", err)
	}
	return pub, nil
}

func b64(s, field string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return b, nil
}
