package cluster

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// TestRouteSecret: nodes that share cluster.secret form a cluster, and
// their cluster port refuses a route that does not present it; without a
// secret, routes are not authenticated.
func TestRouteSecret(t *testing.T) {
	const secret = "s3cret-shared-by-every-node"
	for _, cl := range []struct {
		name   string
		secret string
		probes []struct {
			pass    string
			refused bool
		}
	}{
		{"with a secret", secret, []struct {
			pass    string
			refused bool
		}{{"not-the-secret-at-all", true}, {"", true}, {secret, false}}},
		{"without a secret", "", []struct {
			pass    string
			refused bool
		}{{"", false}}},
	} {
		t.Run(cl.name, func(t *testing.T) {
			addrs := []string{freePort(t), freePort(t)}
			nodes := make([]*Node, 2)
			for i := range nodes {
				n, err := Start(Options{Name: []string{"n1", "n2"}[i], Address: addrs[i], Seeds: addrs, ClusterName: "test",
					Secret: cl.secret, Replicas: 1, Dir: t.TempDir(), ForwardTimeout: time.Second,
					NodeTimeout: 3 * time.Second, Logger: testutil.Logger(t)})
				require.NoError(t, err)
				t.Cleanup(n.Close)
				nodes[i] = n
			}
			testutil.Eventually(t, 30*time.Second, func() bool {
				return len(nodes[0].Peers()) == 1 && len(nodes[1].Peers()) == 1
			}, "the nodes see each other")
			for _, p := range cl.probes {
				require.Equal(t, p.refused, probeRoute(t, addrs[0], cl.secret != "", p.pass), "presenting %q", p.pass)
			}
		})
	}
}

// probeRoute opens a route connection to addr presenting pass and reports
// whether it was refused (Authorization Violation); authRequired is what
// the server's INFO must say.
func probeRoute(t *testing.T, addr string, authRequired bool, pass string) bool {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	r := bufio.NewReader(c)
	info, err := r.ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(info, "INFO "), info)
	require.Equal(t, authRequired, strings.Contains(info, `"auth_required":true`), info)
	user := ""
	if pass != "" {
		user = "iothub"
	}
	_, err = c.Write([]byte(`CONNECT {"echo":true,"verbose":false,"pedantic":false,"user":"` + user + `","pass":"` + pass +
		`","tls_required":false,"name":"probe","cluster":"test"}` + "\r\nPING\r\n"))
	require.NoError(t, err)
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err, "an answer (PONG or -ERR) before any close")
		switch {
		case strings.HasPrefix(line, "-ERR"):
			require.Contains(t, line, "Authorization Violation")
			return true
		case strings.HasPrefix(line, "PONG"):
			return false
		}
	}
}

// TestRouteTLS: nodes with certificates of one CA form a cluster over TLS;
// their cluster port starts with a TLS handshake and refuses a certificate
// of another CA.
func TestRouteTLS(t *testing.T) {
	ca := testutil.NewCA(t, "cluster CA")
	addrs := []string{freePort(t), freePort(t)}
	nodes := make([]*Node, 2)
	for i := range nodes {
		name := []string{"n1", "n2"}[i]
		cert := ca.Peer(t, name)
		n, err := Start(Options{Name: name, Address: addrs[i], Seeds: addrs, ClusterName: "test", Replicas: 1, Dir: t.TempDir(),
			TLSCertFile: cert.CertFile, TLSKeyFile: cert.KeyFile, TLSCAFile: ca.File,
			ForwardTimeout: time.Second, NodeTimeout: 3 * time.Second, Logger: testutil.Logger(t)})
		require.NoError(t, err)
		t.Cleanup(n.Close)
		nodes[i] = n
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		return len(nodes[0].Peers()) == 1 && len(nodes[1].Peers()) == 1
	}, "the nodes see each other over TLS")

	other := testutil.NewCA(t, "another CA")
	for _, tc := range []struct {
		name string
		ca   *testutil.CA
		ok   bool
	}{{"a node certificate of the cluster's CA", ca, true}, {"a certificate of another CA", other, false}} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", addrs[0], 5*time.Second)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
			// The node starts the TLS handshake before its INFO.
			peer := tc.ca.Peer(t, "probe")
			pair, err := tls.LoadX509KeyPair(peer.CertFile, peer.KeyFile)
			require.NoError(t, err)
			pool := x509.NewCertPool()
			pool.AddCert(ca.Cert)
			tc2 := tls.Client(c, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
			err = tc2.Handshake()
			var info string
			if err == nil {
				// TLS 1.3: the server's verdict on the client certificate
				// arrives with the first read.
				info, err = bufio.NewReader(tc2).ReadString('\n')
			}
			if tc.ok {
				require.NoError(t, err)
				require.True(t, strings.HasPrefix(info, "INFO "), info)
				require.Contains(t, info, `"tls_required":true`)
			} else {
				require.Error(t, err, "a certificate of another CA is refused")
			}
		})
	}
}
