package listener

import (
	"bufio"
	"crypto/tls"
	"net"
)

// Conn is a connection prepared by a listener: its PROXY protocol header
// (if any) consumed, its TLS handshake done, and what the broker needs to
// know about the peer recorded. It reports the client's address (from the
// PROXY header or a trusted X-Forwarded-For) as RemoteAddr, and implements
// broker.CertIdentifier with the identity taken from a verified client
// certificate.
type Conn struct {
	net.Conn
	peer
	// br holds bytes read past the PROXY header; only the broker's read
	// loop reads, so it is dropped without a lock once drained.
	br *bufio.Reader
	// socket holds the TCP socket under the connection when nothing but
	// TLS sits between it and Read (no PROXY-protocol buffer): see Socket.
	// Everything above reads and writes through it.
	socket *socketHolder
}

// socketHolder is the net.Conn that a Conn's TLS layer (or the Conn
// itself) uses: the TCP socket, which a parked connection can hand back
// to Go's runtime and get again (DetachSocket, AttachSocket) while
// crypto/tls keeps its state.
type socketHolder struct{ net.Conn }

// Socket returns the TCP socket under the connection, for the broker to
// park an idle TLS connection on (broker.SocketConn); nil when a PROXY
// protocol reader may hold bytes above it. TLS's own buffers are no
// obstacle: the broker parks only after a read waited on the socket, which
// TLS does only when it holds no complete record.
func (c *Conn) Socket() *net.TCPConn {
	if c.socket == nil {
		return nil
	}
	tc, _ := c.socket.Conn.(*net.TCPConn)
	return tc
}

// DetachSocket puts standIn in place of the TCP socket under the
// connection and returns the socket (broker.SocketSwapper): a parked TLS
// connection gives its socket back to Go's runtime. nil when a PROXY
// protocol reader sits above the socket.
func (c *Conn) DetachSocket(standIn net.Conn) *net.TCPConn {
	tc := c.Socket()
	if tc != nil {
		c.socket.Conn = standIn
	}
	return tc
}

// AttachSocket puts nc under the connection, in DetachSocket's standIn's
// place (broker.SocketSwapper).
func (c *Conn) AttachSocket(nc net.Conn) {
	if c.socket != nil {
		c.socket.Conn = nc
	}
}

// Read reads the bytes buffered while parsing the PROXY header first, then
// from the connection.
func (c *Conn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			n, err := c.br.Read(p)
			if c.br.Buffered() == 0 {
				c.br = nil
			}
			return n, err
		}
		c.br = nil
	}
	return c.Conn.Read(p)
}

// Encrypted reports whether the connection runs over TLS (the broker's
// auth.ConnectInfo.TLS).
func (c *Conn) Encrypted() bool { return encrypted(c.Conn) }

// encrypted reports whether nc is, or wraps, a TLS connection.
func encrypted(nc net.Conn) bool {
	switch u := nc.(type) {
	case *tls.Conn:
		return true
	case interface{ Encrypted() bool }:
		return u.Encrypted()
	}
	return false
}

// RemoteAddr returns the client's address: the one a trusted proxy reported,
// or the socket peer's.
func (c *Conn) RemoteAddr() net.Addr { return c.remoteAddr(c.Conn) }

// peer is what a listener learnt about the client beyond the socket: its
// address as a trusted proxy reported it, and its certificate. Conn and
// the WebSocket connection (wsConn) both carry one. Both are behind one
// pointer (nil: neither), so that a connection with neither pays 8 bytes
// (a WebSocket connection's object is 64 bytes rather than 80).
type peer struct {
	more *peerInfo
}

// peerInfo is a peer's address from a proxy and its certificate.
type peerInfo struct {
	remote net.Addr // nil: the socket's peer
	// The identity from the client certificate; at most one is set.
	username string
	clientID string
	// fingerprint is the SHA-256 of the certificate (lowercase hex); ""
	// without one.
	fingerprint string
}

// info returns p's peerInfo, allocating it on first use (while the
// listener prepares the connection; read-only after).
func (p *peer) info() *peerInfo {
	if p.more == nil {
		p.more = new(peerInfo)
	}
	return p.more
}

// remoteAddr returns the client's address: the one a trusted proxy
// reported, or nc's peer.
func (p *peer) remoteAddr(nc net.Conn) net.Addr {
	if p.more != nil && p.more.remote != nil {
		return p.more.remote
	}
	return nc.RemoteAddr()
}

// CertIdentity returns the identity taken from the client's verified
// certificate, as username or as client id (see broker.CertIdentifier).
func (p *peer) CertIdentity() (username, clientID string) {
	if p.more == nil {
		return "", ""
	}
	return p.more.username, p.more.clientID
}

// CertFingerprint returns the SHA-256 fingerprint (lowercase hex) of the
// client's verified certificate, "" when it sent none; the device registry
// matches it against a device's registered certificate.
func (p *peer) CertFingerprint() string {
	if p.more == nil {
		return ""
	}
	return p.more.fingerprint
}

// setIdentity records id as the username or the client id, as identityAs
// ("username" or "client_id") says.
func (c *Conn) setIdentity(id, identityAs string) {
	if id == "" {
		return
	}
	if identityAs == IdentityAsClientID {
		c.info().clientID = id
		return
	}
	c.info().username = id
}
