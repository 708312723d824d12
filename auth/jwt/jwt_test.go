package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

func sign(t *testing.T, method gojwt.SigningMethod, key any, kid string, claims gojwt.MapClaims) string {
	t.Helper()
	tok := gojwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func connect(a *Authenticator, clientID, username, password string) auth.Result {
	return a.Authenticate(context.Background(), &auth.ConnectInfo{ClientID: clientID, Username: username,
		Password: []byte(password), RemoteAddr: "127.0.0.1:1"})
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestHS256(t *testing.T) {
	secret := []byte("door-lock-secret")
	a, err := New(Options{Secret: secret, ClientIDClaim: "clientid", ACLClaim: "acl"})
	require.NoError(t, err)
	now := time.Now()
	good := gojwt.MapClaims{"clientid": "lock-1", "sub": "lock-1", "exp": now.Add(time.Hour).Unix(),
		"acl": []string{"allow publish devices/%c/state", "deny all #"}}
	tests := []struct {
		name     string
		clientID string
		password string
		decision auth.Decision
		code     packet.ReasonCode
	}{
		{"valid", "lock-1", sign(t, gojwt.SigningMethodHS256, secret, "", good), auth.Allow, 0},
		{"not a token", "lock-1", "plain password", auth.NoOpinion, 0},
		{"wrong client id", "lock-2", sign(t, gojwt.SigningMethodHS256, secret, "", good), auth.Deny, packet.ClientIdentifierNotValid},
		{"no client id claim", "lock-1", sign(t, gojwt.SigningMethodHS256, secret, "", gojwt.MapClaims{"sub": "lock-1"}), auth.Deny, packet.ClientIdentifierNotValid},
		{"wrong secret", "lock-1", sign(t, gojwt.SigningMethodHS256, []byte("other"), "", good), auth.Deny, packet.BadUsernameOrPassword},
		{"expired", "lock-1", sign(t, gojwt.SigningMethodHS256, secret, "", gojwt.MapClaims{"clientid": "lock-1", "exp": now.Add(-time.Hour).Unix()}), auth.Deny, packet.BadUsernameOrPassword},
		{"not yet valid", "lock-1", sign(t, gojwt.SigningMethodHS256, secret, "", gojwt.MapClaims{"clientid": "lock-1", "nbf": now.Add(time.Hour).Unix()}), auth.Deny, packet.BadUsernameOrPassword},
		{"none algorithm", "lock-1", sign(t, gojwt.SigningMethodNone, gojwt.UnsafeAllowNoneSignatureType, "", good), auth.Deny, packet.BadUsernameOrPassword},
		{"bad acl claim", "lock-1", sign(t, gojwt.SigningMethodHS256, secret, "", gojwt.MapClaims{"clientid": "lock-1", "acl": []string{"allow everything"}}), auth.Deny, packet.NotAuthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := connect(a, tc.clientID, "", tc.password)
			require.Equal(t, tc.decision, r.Decision, r.Reason)
			require.Equal(t, tc.code, r.Code)
		})
	}
	r := connect(a, "lock-1", "", sign(t, gojwt.SigningMethodHS256, secret, "", good))
	require.Equal(t, "lock-1", r.Identity.Username, "username from sub")
	require.NotNil(t, r.Identity.Rules)
	require.Len(t, *r.Identity.Rules, 2)
	chain := &auth.AuthzChain{Authorizers: []auth.Authorizer{auth.IdentityRules{}}}
	require.Equal(t, auth.Allow, chain.Authorize(context.Background(), r.Identity, auth.ActionPublish, "devices/lock-1/state"))
	require.Equal(t, auth.Deny, chain.Authorize(context.Background(), r.Identity, auth.ActionPublish, "devices/lock-2/state"))
}

func TestRS256_publicKeyFile(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	pemData := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	a, err := New(Options{PublicKeyFile: writeFile(t, "pub.pem", pemData), UsernameClaim: "username"})
	require.NoError(t, err)
	claims := gojwt.MapClaims{"username": "alice", "exp": time.Now().Add(time.Minute).Unix()}
	require.Equal(t, auth.Allow, connect(a, "c", "alice", sign(t, gojwt.SigningMethodRS256, key, "", claims)).Decision)
	require.Equal(t, auth.Deny, connect(a, "c", "bob", sign(t, gojwt.SigningMethodRS256, key, "", claims)).Decision)
	// Algorithm confusion: an HS256 token keyed with the public key's PEM.
	forged := sign(t, gojwt.SigningMethodHS256, pemData, "", claims)
	require.Equal(t, auth.Deny, connect(a, "c", "alice", forged).Decision)
}

func ecJWKS(t *testing.T, kid string, pub *ecdsa.PublicKey) []byte {
	t.Helper()
	b, err := pub.Bytes()
	require.NoError(t, err)
	doc, err := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256", "x": b64u(b[1:33]), "y": b64u(b[33:])},
		{"kty": "OKP", "crv": "Ed25519", "kid": "skipped", "x": "AAAA"},
	}})
	require.NoError(t, err)
	return doc
}

func TestES256_JWKS(t *testing.T) {
	k1, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	k2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	path := writeFile(t, "jwks.json", ecJWKS(t, "k1", &k1.PublicKey))
	a, err := New(Options{JWKSFile: path})
	require.NoError(t, err)
	claims := gojwt.MapClaims{"exp": time.Now().Add(time.Minute).Unix()}
	require.Equal(t, auth.Allow, connect(a, "c", "u", sign(t, gojwt.SigningMethodES256, k1, "k1", claims)).Decision)
	require.Equal(t, auth.Allow, connect(a, "c", "u", sign(t, gojwt.SigningMethodES256, k1, "", claims)).Decision, "no kid: every key tried")
	require.Equal(t, auth.Deny, connect(a, "c", "u", sign(t, gojwt.SigningMethodES256, k2, "k1", claims)).Decision)

	// Rotation: the file is replaced by one with k2.
	require.NoError(t, os.WriteFile(path, ecJWKS(t, "k2", &k2.PublicKey), 0o600))
	future := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(path, future, future))
	a.mu.Lock()
	a.checked = time.Time{}
	a.mu.Unlock()
	require.Equal(t, auth.Allow, connect(a, "c", "u", sign(t, gojwt.SigningMethodES256, k2, "k2", claims)).Decision)
}

func TestParseJWKS(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaKey := map[string]string{"kty": "RSA", "kid": "r", "n": b64u(key.N.Bytes()), "e": b64u(big.NewInt(int64(key.E)).Bytes())}
	tests := []struct {
		name string
		doc  any
		n    int
	}{
		{"rsa", map[string]any{"keys": []any{rsaKey}}, 1},
		{"oct", map[string]any{"keys": []any{map[string]string{"kty": "oct", "k": b64u([]byte("s"))}}}, 1},
		{"enc keys skipped", map[string]any{"keys": []any{rsaKey, map[string]string{"kty": "RSA", "use": "enc", "n": "x", "e": "AQAB"}}}, 1},
		{"empty", map[string]any{"keys": []any{}}, 0},
		{"bad base64", map[string]any{"keys": []any{map[string]string{"kty": "RSA", "n": "!!", "e": "AQAB"}}}, 0},
		{"small rsa", map[string]any{"keys": []any{map[string]string{"kty": "RSA", "n": b64u([]byte{1, 2, 3}), "e": "AQAB"}}}, 0},
		{"off-curve point", map[string]any{"keys": []any{map[string]string{"kty": "EC", "crv": "P-256", "x": b64u(make([]byte, 32)), "y": b64u(make([]byte, 32))}}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.doc)
			require.NoError(t, err)
			keys, err := ParseJWKS(data)
			if tc.n == 0 {
				require.ErrorIs(t, err, ErrBadJWKS)
				return
			}
			require.NoError(t, err)
			require.Len(t, keys, tc.n)
		})
	}
}

func TestNew_needsOneKey(t *testing.T) {
	_, err := New(Options{})
	require.Error(t, err)
	_, err = New(Options{Secret: []byte("s"), JWKSFile: "x"})
	require.Error(t, err)
	_, err = New(Options{PublicKeyFile: writeFile(t, "bad.pem", []byte("nope"))})
	require.Error(t, err)
}

// TestClientIDClaim: the claim admits client ids by pattern or list (%u is
// the subject); the subject is the principal and the username, whatever
// username the client sent.
func TestClientIDClaim(t *testing.T) {
	secret := []byte("door-lock-secret")
	a, err := New(Options{Secret: secret, ClientIDClaim: "clientid"})
	require.NoError(t, err)
	tok := func(claim any) string {
		return sign(t, gojwt.SigningMethodHS256, secret, "", gojwt.MapClaims{"clientid": claim, "sub": "lock-7"})
	}
	tests := []struct {
		name     string
		claim    any
		clientID string
		want     auth.Decision
	}{
		{"exact", "lock-7", "lock-7", auth.Allow},
		{"pattern", "lock-*", "lock-99", auth.Allow},
		{"pattern, other prefix", "lock-*", "gate-1", auth.Deny},
		{"subject", "%u", "lock-7", auth.Allow},
		{"subject, other", "%u", "lock-8", auth.Deny},
		{"list", []string{"a", "%u-shadow"}, "lock-7-shadow", auth.Allow},
		{"list, none", []string{"a", "b"}, "c", auth.Deny},
		{"bad pattern", "%x", "%x", auth.Deny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := connect(a, tc.clientID, "someone-else", tok(tc.claim))
			require.Equal(t, tc.want, r.Decision, r.Reason)
			if r.Decision == auth.Allow {
				require.Equal(t, "lock-7", r.Identity.Username, "the subject, not the username the client sent")
				require.Equal(t, "jwt/user:lock-7", r.Identity.Owner())
			}
		})
	}
}
