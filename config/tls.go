package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Load builds the client TLS configuration of these settings, reading
// their files (whether TLS is used at all, Enabled or a URL's scheme, is
// the caller's). key is the settings' place in the file ("tls",
// "upstream.tls"), which errors name.
func (t ClientTLS) Load(key string) (*tls.Config, error) {
	tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // an explicit, documented test setting
		MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", key, err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: no PEM certificate in %s", key, t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file: %w", key, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Load builds the upstream link's client TLS configuration (ClientTLS.Load).
func (t UpstreamTLS) Load(key string) (*tls.Config, error) {
	return ClientTLS{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify}.Load(key)
}
