package listener

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// DefaultHandshakeTimeout bounds the PROXY header and the TLS handshake of
// one connection when AcceptOptions.HandshakeTimeout is 0.
const DefaultHandshakeTimeout = 10 * time.Second

// AcceptOptions says how a listener prepares each accepted connection
// before the broker sees it.
type AcceptOptions struct {
	// Name labels the listener in logs.
	Name string
	// ProxyProtocol expects a PROXY protocol v1 or v2 header first; a
	// connection without one is closed.
	ProxyProtocol bool
	// TLS, when set, runs the server side of a TLS handshake.
	TLS *TLSConfig
	// IdentityFrom takes the client's identity from its verified
	// certificate: IdentityFromNone, IdentityFromCN or IdentityFromSAN.
	IdentityFrom string
	// IdentityAs is IdentityAsUsername or IdentityAsClientID.
	IdentityAs string
	// HandshakeTimeout bounds the PROXY header and the TLS handshake
	// (0: DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// Logger receives failed handshakes at debug level.
	Logger *slog.Logger
}

// Wrap returns a listener whose Accept returns connections already prepared
// as o says (PROXY header read, TLS handshake done, identity taken), as
// *Conn values. Each connection is prepared on its own goroutine, bounded
// by HandshakeTimeout, so a slow or silent client never holds up the
// others. With neither ProxyProtocol nor TLS, ln is returned as is.
func Wrap(ln net.Listener, o AcceptOptions) net.Listener {
	if !o.ProxyProtocol && o.TLS == nil {
		return ln
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &preparer{inner: ln, opts: o, ready: make(chan net.Conn), failed: make(chan error, 1), ctx: ctx, cancel: cancel}
	if o.TLS != nil {
		p.tlsCfg = o.TLS.ServerConfig()
	}
	go p.acceptLoop()
	return p
}

// preparer is the listener Wrap returns.
type preparer struct {
	inner  net.Listener
	opts   AcceptOptions
	tlsCfg *tls.Config
	ready  chan net.Conn // prepared connections
	failed chan error    // the inner listener's fatal error
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

// Accept returns the next prepared connection.
func (p *preparer) Accept() (net.Conn, error) {
	select {
	case c := <-p.ready:
		return c, nil
	case err := <-p.failed:
		p.failed <- err // for the next caller
		return nil, err
	case <-p.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close stops accepting and abandons the connections being prepared.
// Connections already returned by Accept are not affected.
func (p *preparer) Close() error {
	var err error
	p.once.Do(func() {
		p.cancel()
		err = p.inner.Close()
	})
	return err
}

// Addr returns the listening address.
func (p *preparer) Addr() net.Addr { return p.inner.Addr() }

func (p *preparer) acceptLoop() {
	var backoff time.Duration
	for {
		nc, err := p.inner.Accept()
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				p.opts.Logger.Warn("accept failed; retrying", "listener", p.opts.Name, "error", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-p.ctx.Done():
					return
				}
				continue
			}
			p.failed <- err
			return
		}
		backoff = 0
		go p.prepare(nc)
	}
}

// prepare readies one connection and hands it to Accept, or closes it.
func (p *preparer) prepare(nc net.Conn) {
	c, err := p.handshake(nc)
	if err != nil {
		p.opts.Logger.Debug("connection refused before MQTT", "listener", p.opts.Name, "remote", nc.RemoteAddr().String(), "error", err)
		_ = nc.Close()
		return
	}
	select {
	case p.ready <- c:
	case <-p.ctx.Done():
		_ = c.Close()
	}
}

// handshake reads the PROXY header and runs the TLS handshake within the
// handshake timeout.
func (p *preparer) handshake(nc net.Conn) (*Conn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.HandshakeTimeout)
	defer cancel()
	_ = nc.SetDeadline(time.Now().Add(p.opts.HandshakeTimeout))
	c := &Conn{Conn: nc}
	if tcp, ok := nc.(*net.TCPConn); ok && !p.opts.ProxyProtocol {
		c.socket = &socketHolder{Conn: tcp}
		c.Conn, nc = c.socket, c.socket
	}
	if p.opts.ProxyProtocol {
		br := bufio.NewReaderSize(nc, proxyBufSize)
		remote, err := readProxyHeader(br)
		if err != nil {
			return nil, err
		}
		c.info().remote, c.br = remote, br
	}
	if p.tlsCfg != nil {
		// The TLS layer reads through c, which first drains what the
		// PROXY parser buffered.
		under := nc
		if c.br != nil {
			// Not without: tls.Conn keeps what it reads from for the
			// connection's life, and a wrapper would cost every idle
			// TLS connection 64 bytes.
			under = &Conn{Conn: nc, br: c.br}
		}
		tc := tls.Server(under, p.tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		st := tc.ConnectionState()
		c.Conn, c.br = tc, nil
		if len(st.PeerCertificates) > 0 {
			sum := sha256.Sum256(st.PeerCertificates[0].Raw)
			c.info().fingerprint = hex.EncodeToString(sum[:])
		}
		if p.opts.IdentityFrom != "" && p.opts.IdentityFrom != IdentityFromNone {
			c.setIdentity(certIdentity(&st, p.opts.IdentityFrom), p.opts.IdentityAs)
		}
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return c, nil
}
