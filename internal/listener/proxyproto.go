package listener

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/pires/go-proxyproto"
)

// ErrNoProxyHeader is returned for a connection on a proxy_protocol listener
// that does not start with a PROXY protocol v1 or v2 header.
var ErrNoProxyHeader = errors.New("listener: no PROXY protocol header")

// proxyBufSize is the read buffer used while parsing the header; bytes read
// past the header are handed on through Conn.
const proxyBufSize = 256

// readProxyHeader reads a PROXY protocol v1 or v2 header from r (github.com/
// pires/go-proxyproto parses it) and returns the client's address: the
// header's source address for a PROXY command, nil for LOCAL (a load
// balancer's own health check) or an unknown protocol, which keep the
// socket's address. A connection without a header is refused: a listener
// configured for the PROXY protocol trusts only what its proxy says.
func readProxyHeader(r *bufio.Reader) (net.Addr, error) {
	h, err := proxyproto.Read(r)
	switch {
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		return nil, ErrNoProxyHeader
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("proxy protocol header: %w", io.ErrUnexpectedEOF)
	case err != nil:
		return nil, fmt.Errorf("proxy protocol header: %w", err)
	}
	if h.Command.IsLocal() || h.TransportProtocol == proxyproto.UNSPEC {
		return nil, nil
	}
	if a, ok := h.SourceAddr.(*net.TCPAddr); ok && a != nil {
		return a, nil
	}
	return nil, nil
}
