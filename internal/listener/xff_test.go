package listener

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTrustedProxies_ClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "127.0.0.1", "::1"})
	require.NoError(t, err)
	tests := []struct {
		name    string
		proxies TrustedProxies
		peer    string
		xff     []string
		want    string
	}{
		{"no trust", TrustedProxies{}, "127.0.0.1:5000", []string{"203.0.113.7"}, "127.0.0.1:5000"},
		{"untrusted peer", trusted, "192.0.2.1:5000", []string{"203.0.113.7"}, "192.0.2.1:5000"},
		{"trusted peer", trusted, "127.0.0.1:5000", []string{"203.0.113.7"}, "203.0.113.7:0"},
		{"trusted chain", trusted, "10.1.1.1:5000", []string{"203.0.113.7, 10.2.2.2"}, "203.0.113.7:0"},
		{"spoofed left part", trusted, "10.1.1.1:5000", []string{"1.1.1.1, 203.0.113.7"}, "203.0.113.7:0"},
		{"several headers", trusted, "10.1.1.1:5000", []string{"198.51.100.1", "10.3.3.3"}, "198.51.100.1:0"},
		{"with port", trusted, "127.0.0.1:5000", []string{"203.0.113.7:4444"}, "203.0.113.7:0"},
		{"ipv6 bracketed", trusted, "[::1]:5000", []string{"[2001:db8::7]"}, "[2001:db8::7]:0"},
		{"garbage stops the walk", trusted, "127.0.0.1:5000", []string{"203.0.113.7, unknown"}, "127.0.0.1:5000"},
		{"all trusted", trusted, "127.0.0.1:5000", []string{"10.9.9.9"}, "10.9.9.9:0"},
		{"empty header", trusted, "127.0.0.1:5000", nil, "127.0.0.1:5000"},
		{"mapped peer", trusted, "[::ffff:127.0.0.1]:5000", []string{"203.0.113.7"}, "203.0.113.7:0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.proxies.ClientAddr(tc.peer, tc.xff).String())
		})
	}
}

func TestParseTrustedProxies_bad(t *testing.T) {
	_, err := ParseTrustedProxies([]string{"10.0.0.0/8", "proxy.example"})
	require.ErrorContains(t, err, "proxy.example")
}

func FuzzClientAddr(f *testing.F) {
	f.Add("127.0.0.1:5000", "203.0.113.7, 10.2.2.2")
	f.Add("[::1]:1", "[2001:db8::7]:80,unknown")
	f.Add("bogus", "")
	trusted, err := ParseTrustedProxies([]string{"0.0.0.0/0", "::/0"})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, peer, xff string) {
		a := trusted.ClientAddr(peer, []string{xff})
		require.NotNil(t, a)
		_ = a.String()
	})
}
