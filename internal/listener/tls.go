package listener

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Values of TLSSettings.ClientAuth, IdentityFrom and IdentityAs (the config
// file's words).
const (
	ClientAuthNone    = "none"
	ClientAuthRequest = "request"
	ClientAuthRequire = "require"

	IdentityFromNone = "none"
	IdentityFromCN   = "cn"
	IdentityFromSAN  = "san"

	IdentityAsUsername = "username"
	IdentityAsClientID = "client_id"
)

// ErrNoCertificate is returned when a TLS listener's certificate or key file
// holds no usable certificate.
var ErrNoCertificate = errors.New("listener: no certificate")

// TLSSettings are the files and policies of one TLS or WSS listener.
type TLSSettings struct {
	// CertFile and KeyFile are the PEM server certificate chain and key.
	CertFile, KeyFile string
	// CAFile is the PEM bundle that verifies client certificates.
	CAFile string
	// ClientAuth is none, request (verify a certificate if one is sent) or
	// require.
	ClientAuth string
	// MinVersion is "1.2" or "1.3" ("" means 1.2).
	MinVersion string
	// NextProtos is offered in ALPN (nil: none).
	NextProtos []string
}

// TLSConfig is a TLS server configuration whose files can be read again
// while the listener runs: handshakes started after Reload use the new
// certificate, CA bundle and policies; established connections keep theirs.
type TLSConfig struct {
	cur  atomic.Pointer[tls.Config]
	leaf atomic.Pointer[x509.Certificate]
}

// NewTLSConfig loads the files of s.
func NewTLSConfig(s TLSSettings) (*TLSConfig, error) {
	t := &TLSConfig{}
	if err := t.Reload(s); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload reads the files of s again and, when they are all good, uses them
// for new handshakes; on error the previous configuration stays.
func (t *TLSConfig) Reload(s TLSSettings) error {
	cfg, leaf, err := buildTLS(s)
	if err != nil {
		return err
	}
	t.cur.Store(cfg)
	t.leaf.Store(leaf)
	return nil
}

// ServerConfig returns the configuration to hand to tls.Server: it defers
// to the configuration loaded last, for every handshake.
func (t *TLSConfig) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.cur.Load(), nil
		},
	}
}

// Certificate returns the server certificate loaded last.
func (t *TLSConfig) Certificate() *x509.Certificate { return t.leaf.Load() }

// NotAfter returns when the server certificate loaded last expires.
func (t *TLSConfig) NotAfter() time.Time {
	if l := t.leaf.Load(); l != nil {
		return l.NotAfter
	}
	return time.Time{}
}

func buildTLS(s TLSSettings) (*tls.Config, *x509.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate %s, key %s: %w", s.CertFile, s.KeyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, nil, fmt.Errorf("certificate %s: %w", s.CertFile, err)
		}
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   s.NextProtos,
	}
	switch s.MinVersion {
	case "", "1.2":
	case "1.3":
		cfg.MinVersion = tls.VersionTLS13
	default:
		return nil, nil, fmt.Errorf("min_version %q: want 1.2 or 1.3", s.MinVersion)
	}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("ca_file %s: no PEM certificate: %w", s.CAFile, ErrNoCertificate)
		}
		cfg.ClientCAs = pool
	}
	switch s.ClientAuth {
	case "", ClientAuthNone:
		cfg.ClientAuth = tls.NoClientCert
	case ClientAuthRequest:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, nil, fmt.Errorf("client_auth %q: want none, request or require", s.ClientAuth)
	}
	if cfg.ClientAuth != tls.NoClientCert && cfg.ClientCAs == nil {
		return nil, nil, fmt.Errorf("client_auth %q needs ca_file", s.ClientAuth)
	}
	return cfg, leaf, nil
}

// certIdentity returns the identity of the verified client certificate of
// st: its subject common name (from "cn") or its first DNS name, else its
// first e-mail address or URI (from "san"); "" when there is none or the
// certificate was not verified.
func certIdentity(st *tls.ConnectionState, from string) string {
	if st == nil || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return ""
	}
	leaf := st.VerifiedChains[0][0]
	switch from {
	case IdentityFromCN:
		return leaf.Subject.CommonName
	case IdentityFromSAN:
		switch {
		case len(leaf.DNSNames) > 0:
			return leaf.DNSNames[0]
		case len(leaf.EmailAddresses) > 0:
			return leaf.EmailAddresses[0]
		case len(leaf.URIs) > 0:
			return leaf.URIs[0].String()
		}
	}
	return ""
}
