package listener_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/listener"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// TestProxyProtocol: the PROXY header's source becomes the client's address,
// over TCP and under TLS; a connection without a header is closed.
func TestProxyProtocol(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	server := ca.Server(t, "hub")
	conf, err := listener.NewTLSConfig(listener.TLSSettings{CertFile: server.CertFile, KeyFile: server.KeyFile})
	require.NoError(t, err)
	for _, useTLS := range []bool{false, true} {
		name := "tcp"
		if useTLS {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			s, events := newBroker(t)
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			o := listener.AcceptOptions{Name: name, ProxyProtocol: true}
			if useTLS {
				o.TLS = conf
			}
			serve(t, s, listener.Wrap(raw, o), broker.ListenerOptions{Name: name})

			nc := testutil.Dial(t, raw.Addr().String())
			_, err = nc.Write([]byte("PROXY TCP4 203.0.113.7 10.0.0.1 51000 1883\r\n"))
			require.NoError(t, err)
			if useTLS {
				pool := x509.NewCertPool()
				pool.AddCert(ca.Cert)
				nc = tls.Client(nc, &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
			}
			pahoConnect(t, nc, "behind-lb", "")
			require.Equal(t, "203.0.113.7:51000", waitEvent(t, events).PeerHost)

			bare := testutil.Dial(t, raw.Addr().String())
			_, err = bare.Write([]byte("\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02id"))
			require.NoError(t, err)
			_ = bare.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := bare.Read(make([]byte, 4))
			require.Error(t, err, "no CONNACK without a PROXY header")
			require.Zero(t, n)
		})
	}
}
