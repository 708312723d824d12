package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// Options configures an Authenticator. Exactly one of Secret,
// PublicKeyFile and JWKSFile is set.
type Options struct {
	// Secret is the HS256 shared secret.
	Secret []byte
	// PublicKeyFile is a PEM file with an RSA or P-256 EC public key (or a
	// certificate holding one): RS256 or ES256.
	PublicKeyFile string
	// JWKSFile is a JSON Web Key Set file; tokens name their key with
	// "kid" (without one, every key is tried).
	JWKSFile string
	// ClientIDClaim names a claim that says which client ids the token
	// admits ("": any): a string or a list of strings, each an
	// auth.ClientIDPatterns pattern ("lock-7", "lock-*", "%u" for the
	// subject). A token for another client id is refused with Client
	// Identifier not valid.
	ClientIDClaim string
	// UsernameClaim names a claim that must equal the username ("": none).
	UsernameClaim string
	// ACLClaim names a claim holding ACL rules, a list of strings in the
	// one-line form of auth.ParseRule ("": none).
	ACLClaim string
	// Issuer and Audience, when set, must match iss and aud.
	Issuer   string
	Audience string
	// Leeway tolerates clock skew in exp and nbf.
	Leeway time.Duration
}

// Authenticator verifies JWT passwords; see the package documentation.
type Authenticator struct {
	opts   Options
	parser *gojwt.Parser

	mu      sync.Mutex
	keys    []Key
	modTime time.Time
	checked time.Time
}

// New checks opts and loads the keys.
func New(opts Options) (*Authenticator, error) {
	n := 0
	for _, set := range []bool{len(opts.Secret) > 0, opts.PublicKeyFile != "", opts.JWKSFile != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("jwt: set exactly one of secret, public_key_file and jwks_file")
	}
	a := &Authenticator{opts: opts}
	if len(opts.Secret) > 0 {
		a.keys = []Key{{Public: opts.Secret}}
	} else if err := a.loadKeys(); err != nil {
		return nil, err
	}
	popts := []gojwt.ParserOption{gojwt.WithValidMethods([]string{"HS256", "RS256", "ES256"}), gojwt.WithLeeway(opts.Leeway)}
	if opts.Issuer != "" {
		popts = append(popts, gojwt.WithIssuer(opts.Issuer))
	}
	if opts.Audience != "" {
		popts = append(popts, gojwt.WithAudience(opts.Audience))
	}
	a.parser = gojwt.NewParser(popts...)
	return a, nil
}

// keyFile returns the file the keys come from ("" for a secret).
func (a *Authenticator) keyFile() string {
	if a.opts.JWKSFile != "" {
		return a.opts.JWKSFile
	}
	return a.opts.PublicKeyFile
}

// loadKeys reads the key file.
func (a *Authenticator) loadKeys() error {
	path := a.keyFile()
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("jwt: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("jwt: %w", err)
	}
	var keys []Key
	if a.opts.JWKSFile != "" {
		keys, err = ParseJWKS(data)
	} else {
		var k any
		k, err = ParsePublicKeyPEM(data)
		keys = []Key{{Public: k}}
	}
	if err != nil {
		return fmt.Errorf("jwt: %s: %w", path, err)
	}
	a.mu.Lock()
	a.keys, a.modTime = keys, st.ModTime()
	a.mu.Unlock()
	return nil
}

// currentKeys returns the keys, re-reading a changed key file at most once
// a second (a broken new file keeps the old keys).
func (a *Authenticator) currentKeys() []Key {
	a.mu.Lock()
	defer a.mu.Unlock()
	if path := a.keyFile(); path != "" && time.Since(a.checked) >= time.Second {
		a.checked = time.Now()
		if st, err := os.Stat(path); err == nil && !st.ModTime().Equal(a.modTime) {
			a.mu.Unlock()
			_ = a.loadKeys()
			a.mu.Lock()
		}
	}
	return a.keys
}

// ParsePublicKeyPEM reads an RSA or P-256 EC public key from PEM: a
// "PUBLIC KEY", an "RSA PUBLIC KEY" or a "CERTIFICATE" block.
func ParsePublicKeyPEM(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key or certificate", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k, nil
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return k, nil
		}
	}
	return nil, fmt.Errorf("unsupported key type %T (want RSA or P-256 EC)", pub)
}

// looksLikeJWT reports whether p has the shape header.payload.signature.
func looksLikeJWT(p []byte) bool {
	return len(p) > 10 && len(p) < 16<<10 && strings.Count(string(p), ".") == 2 && p[0] == 'e'
}

// Authenticate implements auth.Authenticator.
func (a *Authenticator) Authenticate(_ context.Context, ci *auth.ConnectInfo) auth.Result {
	if !looksLikeJWT(ci.Password) {
		return auth.Pass
	}
	claims := gojwt.MapClaims{}
	_, err := a.parser.ParseWithClaims(string(ci.Password), claims, a.keyfunc)
	if err != nil {
		return auth.Denied(packet.BadUsernameOrPassword, "jwt: "+err.Error())
	}
	if err := a.checkUsername(claims, ci); err != nil {
		return auth.Denied(packet.NotAuthorized, err.Error())
	}
	id := a.identity(claims, ci)
	if err := a.checkClientID(claims, id); err != nil {
		return auth.Denied(packet.ClientIdentifierNotValid, err.Error())
	}
	if a.opts.ACLClaim != "" {
		rules, err := aclClaim(claims[a.opts.ACLClaim])
		if err != nil {
			return auth.Denied(packet.NotAuthorized, "jwt: claim "+a.opts.ACLClaim+": "+err.Error())
		}
		id.Rules = &rules
	}
	return auth.Allowed(id)
}

// keyfunc gives the parser the keys that may have signed token.
func (a *Authenticator) keyfunc(token *gojwt.Token) (any, error) {
	kid, _ := token.Header["kid"].(string)
	var set gojwt.VerificationKeySet
	for _, k := range a.currentKeys() {
		if kid != "" && k.ID != "" && k.ID != kid {
			continue
		}
		if k.Alg != "" && k.Alg != token.Method.Alg() {
			continue
		}
		set.Keys = append(set.Keys, k.Public)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no key for kid %q and alg %s", kid, token.Method.Alg())
	}
	return set, nil
}

// identity is the identity a valid token gives: the principal is its
// subject, else the username the token vouches for (UsernameClaim); the
// username is what the token vouches for, and the one the client sent
// only when the token vouches for nothing (neither sub nor
// UsernameClaim), so that an ACL's %u never expands to a name the client
// picked while the token names someone.
func (a *Authenticator) identity(claims gojwt.MapClaims, ci *auth.ConnectInfo) *auth.Identity {
	id := auth.NewIdentity(ci, "jwt")
	sub, _ := claims.GetSubject()
	switch {
	case sub != "":
		id.Username, id.Principal = sub, sub
	case a.opts.UsernameClaim != "":
		id.Principal = ci.Username
	}
	return id
}

// checkUsername applies UsernameClaim.
func (a *Authenticator) checkUsername(claims gojwt.MapClaims, ci *auth.ConnectInfo) error {
	if a.opts.UsernameClaim == "" {
		return nil
	}
	if got, ok := claims[a.opts.UsernameClaim].(string); !ok || got != ci.Username {
		return fmt.Errorf("jwt: claim %q does not equal the username", a.opts.UsernameClaim)
	}
	return nil
}

// checkClientID applies ClientIDClaim: the client id must match the
// claim's pattern or one of its list.
func (a *Authenticator) checkClientID(claims gojwt.MapClaims, id *auth.Identity) error {
	if a.opts.ClientIDClaim == "" {
		return nil
	}
	var patterns auth.ClientIDPatterns
	switch v := claims[a.opts.ClientIDClaim].(type) {
	case string:
		patterns = auth.ClientIDPatterns{v}
	case []any:
		for _, item := range v {
			if p, ok := item.(string); ok {
				patterns = append(patterns, p)
			}
		}
	}
	if len(patterns) == 0 || patterns.Validate() != nil || !patterns.Allow(id.ClientID, id.Principal) {
		return fmt.Errorf("jwt: claim %q does not admit client id %q", a.opts.ClientIDClaim, id.ClientID)
	}
	return nil
}

// aclClaim parses a claim holding a list of one-line rules.
func aclClaim(v any) ([]auth.Rule, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("not a list of rules")
	}
	rules := make([]auth.Rule, 0, len(list))
	for _, item := range list {
		s, ok := item.(string)
		if !ok {
			return nil, errors.New("a rule is not a string")
		}
		r, err := auth.ParseRule(s)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return slices.Clip(rules), nil
}

var _ auth.Authenticator = (*Authenticator)(nil)
