package listener

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/iothub-dev/iothub/logging"
)

// LimitOptions bounds the connections a listener keeps open.
type LimitOptions struct {
	// Name labels the listener in logs.
	Name string
	// Max is the most connections open at once (0: no bound).
	Max int
	// PerAddress is the most connections open at once from one IP address
	// — one IPv6 /64, since a single host usually has a whole /64 to pick
	// addresses from — (0: no bound).
	PerAddress int
	// Logger receives refusals (rate-limited); nil discards them.
	Logger *slog.Logger
}

// LimitStats are a Limited listener's counters.
type LimitStats struct {
	// Open is the number of connections accepted and not yet closed.
	Open int64
	// RefusedMax and RefusedPerAddress count connections closed at once
	// because Max or PerAddress was reached.
	RefusedMax, RefusedPerAddress uint64
}

// Limited is a listener that closes, as soon as it accepts them, the
// connections beyond LimitOptions.Max in all or LimitOptions.PerAddress
// from one IP address, so that no client can hold more than its share of
// the process's file descriptors and memory. A connection counts until it
// is closed.
type Limited struct {
	net.Listener
	o   LimitOptions
	log logging.Limiter

	mu     sync.Mutex
	open   int
	byAddr map[netip.Addr]int

	openGauge                     atomic.Int64
	refusedMax, refusedPerAddress atomic.Uint64
}

// Limit wraps ln with the bounds of o.
func Limit(ln net.Listener, o LimitOptions) *Limited {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Limited{Listener: ln, o: o, byAddr: map[netip.Addr]int{}}
}

// Accept returns the next connection within the bounds; the others are
// closed, counted and logged (at most one line a second) without being
// returned.
func (l *Limited) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := addressKey(peerIP(c.RemoteAddr()))
		if why := l.admit(ip); why != "" {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset: nothing lingers in TIME_WAIT for the refused
			}
			_ = c.Close()
			l.log.Warn(l.o.Logger, "connection refused: "+why, "listener", l.o.Name, "remote", c.RemoteAddr().String())
			continue
		}
		return &limitedConn{Conn: c, l: l, ip: ip}, nil
	}
}

// admit counts a new connection from ip, or says why it is refused.
func (l *Limited) admit(ip netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.o.Max > 0 && l.open >= l.o.Max {
		l.refusedMax.Add(1)
		return "too many connections"
	}
	if l.o.PerAddress > 0 && l.byAddr[ip] >= l.o.PerAddress {
		l.refusedPerAddress.Add(1)
		return "too many connections from one address"
	}
	l.open++
	l.byAddr[ip]++
	l.openGauge.Store(int64(l.open))
	return ""
}

// release uncounts a closed connection from ip.
func (l *Limited) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if n := l.byAddr[ip] - 1; n > 0 {
		l.byAddr[ip] = n
	} else {
		delete(l.byAddr, ip)
	}
	l.openGauge.Store(int64(l.open))
}

// Stats returns the listener's counters.
func (l *Limited) Stats() LimitStats {
	return LimitStats{Open: l.openGauge.Load(), RefusedMax: l.refusedMax.Load(), RefusedPerAddress: l.refusedPerAddress.Load()}
}

// peerIP returns the IP of a connection's peer (the zero Addr when it has
// none, which then shares one count).
func peerIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// addressKey is what PerAddress counts: an IPv4 address, or the /64 an
// IPv6 address is in.
func addressKey(ip netip.Addr) netip.Addr {
	if !ip.Is6() {
		return ip
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return ip
	}
	return p.Addr()
}

// limitedConn uncounts itself once, on its first Close.
type limitedConn struct {
	net.Conn
	l    *Limited
	ip   netip.Addr
	once sync.Once
}

// Close closes the connection and frees its place.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}
