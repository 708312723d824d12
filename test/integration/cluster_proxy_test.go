package integration

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// routeProxy is a TCP proxy the test owns in front of one node's cluster
// port. The node advertises the proxy's address and every node lists the
// proxies as seeds, so every route connection between two nodes passes
// through the proxy of the node that accepted it. A partition closes the
// connections that cross it and every new one that would; heal lets them
// through again. The dialling node is known from the INFO it sends
// (`"server_name":"n3"`, plain text on a route without TLS).
type routeProxy struct {
	node  string // the node behind the proxy
	ln    net.Listener
	known chan struct{} // closed once addr is set

	mu       sync.Mutex
	addr     string          // the node's own cluster address
	isolated map[string]bool // the nodes cut off from the others
	conns    map[*proxied]struct{}
}

// proxied is one route connection through a proxy.
type proxied struct {
	in, out net.Conn
	from    string // the dialling node ("" until its INFO went by)
}

// newRouteProxy listens on a free loopback port (the test holds it: no
// race with other tests) for node.
func newRouteProxy(t *testing.T, node string) *routeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &routeProxy{node: node, ln: ln, known: make(chan struct{}), isolated: map[string]bool{}, conns: map[*proxied]struct{}{}}
	t.Cleanup(func() {
		_ = ln.Close()
		p.closeAll(func(*proxied) bool { return true })
	})
	go p.accept()
	return p
}

// Addr is the address the node advertises and the others dial.
func (p *routeProxy) Addr() string { return p.ln.Addr().String() }

// setTarget gives the proxy the node's own cluster address.
func (p *routeProxy) setTarget(addr string) {
	p.mu.Lock()
	p.addr = addr
	p.mu.Unlock()
	close(p.known)
}

func (p *routeProxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(in)
	}
}

func (p *routeProxy) serve(in net.Conn) {
	select {
	case <-p.known:
	case <-time.After(30 * time.Second):
		_ = in.Close()
		return
	}
	p.mu.Lock()
	addr := p.addr
	p.mu.Unlock()
	out, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		_ = in.Close()
		return
	}
	c := &proxied{in: in, out: out}
	p.mu.Lock()
	if p.crossesLocked(c) {
		p.mu.Unlock()
		_ = in.Close()
		_ = out.Close()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(in, out); p.drop(c) }()
	p.copySniffing(c)
	p.drop(c)
}

// copySniffing copies the dialler's bytes to the node, learning the
// dialler's name from its INFO on the way; a connection found to cross a
// partition is closed.
func (p *routeProxy) copySniffing(c *proxied) {
	buf := make([]byte, 32<<10)
	var head []byte
	for {
		k, err := c.in.Read(buf)
		if k > 0 {
			if c.from == "" && len(head) < 64<<10 {
				head = append(head, buf[:k]...)
				if name := serverName(head); name != "" {
					p.mu.Lock()
					c.from = name
					cross := p.crossesLocked(c)
					p.mu.Unlock()
					if cross {
						return
					}
				}
			}
			if _, werr := c.out.Write(buf[:k]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// serverName finds `"server_name":"X"` in b.
func serverName(b []byte) string {
	const key = `"server_name":"`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return ""
	}
	rest := b[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// crossesLocked reports whether c joins the two sides of the partition.
// A dialler not known yet crosses when the node behind the proxy is cut
// off (it can only be another node).
func (p *routeProxy) crossesLocked(c *proxied) bool {
	if len(p.isolated) == 0 {
		return false
	}
	if c.from == "" {
		return p.isolated[p.node]
	}
	return c.from != p.node && p.isolated[c.from] != p.isolated[p.node]
}

func (p *routeProxy) drop(c *proxied) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.in.Close()
	_ = c.out.Close()
}

// closeAll closes the connections match (called with p.mu held) selects.
func (p *routeProxy) closeAll(match func(*proxied) bool) {
	p.mu.Lock()
	var cut []*proxied
	for c := range p.conns {
		if match(c) {
			cut = append(cut, c)
		}
	}
	p.mu.Unlock()
	for _, c := range cut {
		p.drop(c)
	}
}

// partition cuts the nodes named off from the others (through this
// proxy): crossing connections are closed, new ones refused.
func (p *routeProxy) partition(isolated ...string) {
	p.mu.Lock()
	p.isolated = map[string]bool{}
	for _, n := range isolated {
		p.isolated[n] = true
	}
	p.mu.Unlock()
	p.closeAll(p.crossesLocked)
}

// heal lets every connection through again.
func (p *routeProxy) heal() {
	p.mu.Lock()
	p.isolated = map[string]bool{}
	p.mu.Unlock()
}
