package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// dialTimeout bounds the TCP connect and, separately, the TLS handshake of
// one connection.
const dialTimeout = 10 * time.Second

// TLSOptions make every connection of a run speak MQTT over TLS. The zero
// value is plain TCP.
type TLSOptions struct {
	// Enabled turns TLS on (`--tls`).
	Enabled bool
	// CAFile is a PEM file of CA certificates that verify the broker
	// (`--cafile`); empty: the system roots.
	CAFile string
	// Insecure skips the verification of the broker's certificate
	// (`--insecure`), for self-signed test brokers.
	Insecure bool
	// CertFile and KeyFile are the PEM client certificate and key sent for
	// mutual TLS (`--cert`, `--key`); both or neither.
	CertFile, KeyFile string
	// ServerName is sent as SNI and verified against the broker's
	// certificate (`--servername`); empty: the host of the address.
	ServerName string
	// Curves, when set, is the comma-separated set of key exchanges the
	// client offers (Go orders them itself) (`--curves x25519,p256`): names from curveNames. A
	// device whose TLS stack offers only classical key exchange sends a
	// ClientHello of about 250 bytes; Go's default also offers the hybrid
	// post-quantum X25519MLKEM768, whose key share alone is 1,216 bytes.
	Curves string
	// WebSocketPath, when set, makes every connection speak MQTT over
	// WebSocket at this path (`--ws /mqtt`; wss:// with Enabled).
	WebSocketPath string
}

// ErrTLSFlags reports TLS options that do not fit together.
var ErrTLSFlags = errors.New("TLS options")

// config builds the client TLS configuration for addr, or nil when TLS is
// off. It is built once per run: every connection then makes a full
// handshake (no session cache), as a fleet of distinct devices would.
func (t TLSOptions) config(addr string) (*tls.Config, error) {
	if t.WebSocketPath != "" && t.WebSocketPath[0] != '/' {
		return nil, fmt.Errorf("%w: --ws %q: a path starting with /", ErrTLSFlags, t.WebSocketPath)
	}
	if !t.Enabled {
		if t.CAFile != "" || t.Insecure || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.Curves != "" {
			return nil, fmt.Errorf("%w: --cafile, --insecure, --cert, --key, --servername and --curves need --tls", ErrTLSFlags)
		}
		return nil, nil
	}
	if t.Insecure && t.CAFile != "" {
		return nil, fmt.Errorf("%w: --insecure skips verification, --cafile sets it up: pass one of them", ErrTLSFlags)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, fmt.Errorf("%w: --cert and --key go together", ErrTLSFlags)
	}
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.Insecure, MinVersion: tls.VersionTLS12} //nolint:gosec // --insecure is the user's explicit choice
	if c.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("--addr %q: %w", addr, err)
		}
		c.ServerName = host
	}
	if t.CAFile != "" {
		pool, err := loadCAs(t.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	curves, err := parseCurves(t.Curves)
	if err != nil {
		return nil, err
	}
	c.CurvePreferences = curves
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert %s --key %s: %w", t.CertFile, t.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// curveNames are the key exchanges --curves accepts.
var curveNames = map[string]tls.CurveID{
	"x25519":         tls.X25519,
	"p256":           tls.CurveP256,
	"p384":           tls.CurveP384,
	"p521":           tls.CurveP521,
	"x25519mlkem768": tls.X25519MLKEM768,
}

// parseCurves reads --curves; empty is Go's default list (nil).
func parseCurves(list string) ([]tls.CurveID, error) {
	if list == "" {
		return nil, nil
	}
	var ids []tls.CurveID
	for name := range strings.SplitSeq(list, ",") {
		id, ok := curveNames[strings.ToLower(strings.TrimSpace(name))]
		if !ok {
			return nil, fmt.Errorf("%w: --curves %q: %q is none of x25519, p256, p384, p521, x25519mlkem768", ErrTLSFlags, list, name)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// loadCAs reads a PEM bundle of CA certificates.
func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--cafile: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--cafile %s: no certificates found", path)
	}
	return pool, nil
}

// dialer opens the connections of one run: TCP, then the TLS handshake
// when TLS is on. Both load generators (conn and the client of pub, sub,
// simulate) dial through it.
type dialer struct {
	addr   string
	tls    *tls.Config // nil: plain TCP
	wsPath string      // "": no WebSocket
}

// newDialer checks t and loads its files once for the whole run.
func newDialer(addr string, t TLSOptions) (*dialer, error) {
	c, err := t.config(addr)
	if err != nil {
		return nil, err
	}
	return &dialer{addr: addr, tls: c, wsPath: t.WebSocketPath}, nil
}

// dial connects from local (may be nil) and completes the TLS handshake.
func (d *dialer) dial(ctx context.Context, local net.Addr) (net.Conn, error) {
	nd := net.Dialer{Timeout: dialTimeout, LocalAddr: local}
	nc, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	hctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if d.tls != nil {
		tc := tls.Client(nc, d.tls)
		if err := tc.HandshakeContext(hctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", d.addr, err)
		}
		nc = tc
	}
	if d.wsPath == "" {
		return nc, nil
	}
	return d.upgrade(hctx, nc)
}

// upgrade speaks the WebSocket handshake on nc (subprotocol mqtt) and
// returns a net.Conn carrying the MQTT bytes in binary messages.
func (d *dialer) upgrade(ctx context.Context, nc net.Conn) (net.Conn, error) {
	scheme := "ws://"
	if d.tls != nil {
		scheme = "wss://"
	}
	once := func(context.Context, string, string) (net.Conn, error) { return nc, nil }
	hc := &http.Client{Transport: &http.Transport{DialContext: once, DialTLSContext: once}}
	c, resp, err := websocket.Dial(ctx, scheme+d.addr+d.wsPath, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"mqtt"}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("websocket handshake with %s%s: %w", d.addr, d.wsPath, err)
	}
	c.SetReadLimit(-1)
	return websocket.NetConn(context.Background(), c, websocket.MessageBinary), nil
}
