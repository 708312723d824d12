package listener

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// TrustedProxies is a set of addresses and networks whose X-Forwarded-For
// header is believed. The zero value trusts nobody.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// ParseTrustedProxies parses IP addresses and CIDRs ("10.0.0.0/8",
// "127.0.0.1", "::1").
func ParseTrustedProxies(list []string) (TrustedProxies, error) {
	var t TrustedProxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			t.prefixes = append(t.prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return TrustedProxies{}, fmt.Errorf("trusted proxy %q: neither an IP address nor a CIDR", s)
		}
		a = a.Unmap()
		t.prefixes = append(t.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return t, nil
}

// trusts reports whether a is one of the trusted proxies.
func (t TrustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr returns the client's address for a request from peer (the
// socket's host:port) carrying the given X-Forwarded-For header values.
// When peer is a trusted proxy, the header is read from the right (the
// entry the nearest proxy appended) and the first address that is not a
// trusted proxy is the client; without trust, or with no usable entry, the
// peer is the client. An entry that is not an IP address stops the walk:
// what lies to its left was written by someone we cannot vouch for. The
// port of a forwarded address is unknown and reported as 0.
func (t TrustedProxies) ClientAddr(peer string, xff []string) net.Addr {
	peerAP, err := netip.ParseAddrPort(peer)
	if err != nil {
		return addrOf(peer)
	}
	if len(t.prefixes) == 0 || !t.trusts(peerAP.Addr()) {
		return net.TCPAddrFromAddrPort(peerAP)
	}
	client := peerAP.Addr()
	found := false
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, ok := parseForwarded(parts[j])
			if !ok {
				return result(client, found, peerAP)
			}
			client, found = a, true
			if !t.trusts(a) {
				return result(client, found, peerAP)
			}
		}
	}
	return result(client, found, peerAP)
}

func result(client netip.Addr, found bool, peer netip.AddrPort) net.Addr {
	if !found {
		return net.TCPAddrFromAddrPort(peer)
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(client.Unmap(), 0))
}

// parseForwarded parses one X-Forwarded-For entry: an IP address, possibly
// with a port or in brackets.
func parseForwarded(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Zone() == "" {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// addrOf turns a host:port string into a net.Addr, a zero TCPAddr when it
// is not one.
func addrOf(hostport string) net.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return &net.TCPAddr{}
}
