package listener

import (
	"bufio"
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
	remote net.Addr
	// br holds bytes read past the PROXY header; only the broker's read
	// loop reads, so it is dropped without a lock once drained.
	br *bufio.Reader
	// cert is what the client certificate says (nil: no certificate),
	// apart so that a connection without one pays for a pointer.
	cert *certInfo
	// socket is the TCP socket under the connection when nothing but TLS
	// sits between it and Read (no PROXY-protocol buffer): see Socket.
	socket *net.TCPConn
}

// Socket returns the TCP socket under the connection, for the broker to
// park an idle TLS connection on (broker.SocketConn); nil when a PROXY
// protocol reader may hold bytes above it. TLS's own buffers are no
// obstacle: the broker parks only after a read waited on the socket, which
// TLS does only when it holds no complete record.
func (c *Conn) Socket() *net.TCPConn { return c.socket }

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

// RemoteAddr returns the client's address: the one a trusted proxy reported,
// or the socket peer's.
func (c *Conn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// certInfo is what a connection's verified client certificate says.
type certInfo struct {
	// The identity from the client certificate; at most one is set.
	username string
	clientID string
	// fingerprint is the SHA-256 of the certificate (lowercase hex).
	fingerprint string
}

// CertIdentity returns the identity taken from the client's verified
// certificate, as username or as client id (see broker.CertIdentifier).
func (c *Conn) CertIdentity() (username, clientID string) {
	if c.cert == nil {
		return "", ""
	}
	return c.cert.username, c.cert.clientID
}

// CertFingerprint returns the SHA-256 fingerprint (lowercase hex) of the
// client's verified certificate, "" when it sent none; the device registry
// matches it against a device's registered certificate.
func (c *Conn) CertFingerprint() string {
	if c.cert == nil {
		return ""
	}
	return c.cert.fingerprint
}

// setIdentity records id as the username or the client id, as identityAs
// ("username" or "client_id") says.
func (c *Conn) setIdentity(id, identityAs string) {
	if id == "" {
		return
	}
	if c.cert == nil {
		c.cert = new(certInfo)
	}
	if identityAs == IdentityAsClientID {
		c.cert.clientID = id
		return
	}
	c.cert.username = id
}
