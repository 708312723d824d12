package broker

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
)

// ListenerOptions are one listener's own settings: its name (in logs and
// events) and its limits, which apply on top of the global ones.
type ListenerOptions struct {
	// Name labels the listener in logs and events; listeners with the same
	// name share one connection count and one set of limits.
	Name string
	// MaxConnections caps this listener's concurrent connections (0: only
	// the global cap applies). Beyond it CONNECT is refused (v5 0x89,
	// 3.1.1 3).
	MaxConnections int
	// MaxPacketSize is the largest packet accepted on this listener, and
	// the Maximum Packet Size announced to its v5 clients (0: the global
	// Options.MaxPacketSize).
	MaxPacketSize int
}

// Limits are the global limits that can change while the hub runs
// (SetLimits): new values apply to connections from their next CONNECT
// (MaxConnections) or next packet (MaxPacketSize); nobody is disconnected.
type Limits struct {
	// MaxConnections caps concurrent connections (0: no cap).
	MaxConnections int
	// MaxPacketSize is the largest packet accepted, in bytes.
	MaxPacketSize int
}

// CertIdentifier is implemented by connections whose listener verified a
// client certificate and took the client's identity from it (TLS listener
// identity_from/identity_as). handleConnect replaces the username or the
// client id sent in CONNECT with the non-empty value before anything
// (authentication included) looks at them.
type CertIdentifier interface {
	// CertIdentity returns the identity to use as username or as client
	// id; at most one of them is non-empty.
	CertIdentity() (username, clientID string)
}

// listenerState is the shared state of the connections of one listener.
type listenerState struct {
	name      string
	maxConns  atomic.Int64
	maxPacket atomic.Int64
	conns     atomic.Int64
}

// errLimit is returned by SetLimits and SetListenerLimits for a bad value.
var errLimit = errors.New("broker: invalid limit")

func checkLimits(maxConns, maxPacket int, packetOptional bool) error {
	if maxConns < 0 {
		return fmt.Errorf("max_connections %d must not be negative: %w", maxConns, errLimit)
	}
	if packetOptional && maxPacket == 0 {
		return nil
	}
	if maxPacket < 16 || maxPacket > 268_435_460 {
		return fmt.Errorf("max_packet_size %d must be between 16 and 268435460: %w", maxPacket, errLimit)
	}
	return nil
}

// SetLimits changes the global connection and packet-size limits at run
// time; see Limits.
func (s *Server) SetLimits(l Limits) error {
	if err := checkLimits(l.MaxConnections, l.MaxPacketSize, false); err != nil {
		return err
	}
	s.maxConns.Store(int64(l.MaxConnections))
	s.maxPacket.Store(int64(l.MaxPacketSize))
	return nil
}

// Limits returns the global limits in force.
func (s *Server) Limits() Limits {
	return Limits{MaxConnections: int(s.maxConns.Load()), MaxPacketSize: int(s.maxPacket.Load())}
}

// SetListenerLimits sets the limits of the listener named l.Name (creating
// its state if no connection has used it yet); like SetLimits, it applies to
// new CONNECTs and packets only.
func (s *Server) SetListenerLimits(l ListenerOptions) error {
	if err := checkLimits(l.MaxConnections, l.MaxPacketSize, true); err != nil {
		return err
	}
	s.listenerState(l, true)
	return nil
}

// listenerState returns the state of listener l.Name, created with l's
// limits; set says whether an existing state takes l's limits too.
func (s *Server) listenerState(l ListenerOptions, set bool) *listenerState {
	s.mu.Lock()
	ls, ok := s.lstates[l.Name]
	if !ok {
		ls = &listenerState{name: l.Name}
		s.lstates[l.Name] = ls
	}
	s.mu.Unlock()
	if set || !ok {
		ls.maxConns.Store(int64(max(l.MaxConnections, 0)))
		ls.maxPacket.Store(int64(max(l.MaxPacketSize, 0)))
	}
	return ls
}

// ServeListener is Serve with the listener's own limits.
func (s *Server) ServeListener(ln net.Listener, l ListenerOptions) error {
	if err := checkLimits(l.MaxConnections, l.MaxPacketSize, true); err != nil {
		return err
	}
	return s.serve(ln, s.listenerState(l, true))
}

// ServeConnWith is ServeConn with the listener's own limits (a WebSocket
// listener calls it for each upgraded connection). l's limits are taken
// only by the first connection of the listener: change them later with
// SetListenerLimits.
func (s *Server) ServeConnWith(nc net.Conn, l ListenerOptions) {
	s.startConn(nc, s.listenerState(l, false))
}

// ListenerConnections returns the number of open connections of the named
// listener.
func (s *Server) ListenerConnections(name string) int {
	s.mu.Lock()
	ls := s.lstates[name]
	s.mu.Unlock()
	if ls == nil {
		return 0
	}
	return int(ls.conns.Load())
}

// maxPacketSize returns the packet-size limit of c's listener.
func (c *conn) maxPacketSize() int {
	if n := c.lst.maxPacket.Load(); n > 0 {
		return int(n)
	}
	return int(c.s.maxPacket.Load())
}

// overConnectionLimit reports whether accepting c's CONNECT would exceed
// the global or the listener's connection cap (c itself is counted).
func (c *conn) overConnectionLimit() bool {
	s := c.s
	if n := s.maxConns.Load(); n > 0 && s.stats.connections.Load() > n {
		return true
	}
	if s.mem.over() { // budget.go: no new work while the memory budget is spent
		s.stats.budgetRefused.Add(1)
		s.logLimited(&s.budgetLog, "memory budget spent (mqtt.max_buffered_bytes): refusing new connections",
			"used_bytes", s.mem.used.Load(), "limit_bytes", s.mem.limit)
		return true
	}
	n := c.lst.maxConns.Load()
	return n > 0 && c.lst.conns.Load() > n
}

// applyCertIdentity replaces the CONNECT username or client id with the
// identity the listener took from the client's certificate.
func (c *conn) applyCertIdentity(username, clientID *string) {
	certUser, certClient := c.certIdentity()
	if certUser != "" {
		*username = certUser
	}
	if certClient != "" {
		*clientID = certClient
	}
}
