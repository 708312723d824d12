package listener_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/listener"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// tlsClient dials addr with TLS trusting ca, presenting cert if not nil.
func tlsClient(t *testing.T, addr string, ca *testutil.CA, cert *testutil.CertFiles) (*tls.Conn, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		require.NoError(t, err)
		// Send it even when its issuer is not one the server asks for, as
		// OpenSSL clients do.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	// TLS 1.3 reports a refused client certificate on the first read.
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		var ne net.Error
		if !(errors.As(err, &ne) && ne.Timeout()) {
			_ = c.Close()
			return nil, err
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	t.Cleanup(func() { _ = c.Close() })
	return c, nil
}

func TestTLS_identity(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	server := ca.Server(t, "hub")
	client := ca.Client(t, "lock-42", "lock-42.devices.example")
	tests := []struct {
		name, from, as       string
		wantClient, wantUser string
	}{
		{"none", listener.IdentityFromNone, listener.IdentityAsUsername, "sent-id", "sent-user"},
		{"cn as username", listener.IdentityFromCN, listener.IdentityAsUsername, "sent-id", "lock-42"},
		{"cn as client id", listener.IdentityFromCN, listener.IdentityAsClientID, "lock-42", "sent-user"},
		{"san as client id", listener.IdentityFromSAN, listener.IdentityAsClientID, "lock-42.devices.example", "sent-user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, events := newBroker(t)
			conf, err := listener.NewTLSConfig(listener.TLSSettings{CertFile: server.CertFile, KeyFile: server.KeyFile,
				CAFile: ca.File, ClientAuth: listener.ClientAuthRequire})
			require.NoError(t, err)
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			ln := listener.Wrap(raw, listener.AcceptOptions{Name: "tls", TLS: conf, IdentityFrom: tc.from, IdentityAs: tc.as})
			serve(t, s, ln, broker.ListenerOptions{Name: "tls"})

			nc, err := tlsClient(t, raw.Addr().String(), ca, &client)
			require.NoError(t, err)
			pahoConnect(t, nc, "sent-id", "sent-user")
			ev := waitEvent(t, events)
			require.Equal(t, tc.wantClient, ev.ClientID)
			require.Equal(t, tc.wantUser, ev.Username)
		})
	}
}

func TestTLS_clientAuth(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	other := testutil.NewCA(t, "untrusted CA")
	server := ca.Server(t, "hub")
	good := ca.Client(t, "good")
	bad := other.Client(t, "bad")
	tests := []struct {
		name       string
		clientAuth string
		cert       *testutil.CertFiles
		wantErr    bool
	}{
		{"require, trusted", listener.ClientAuthRequire, &good, false},
		{"require, untrusted", listener.ClientAuthRequire, &bad, true},
		{"require, none", listener.ClientAuthRequire, nil, true},
		{"request, none", listener.ClientAuthRequest, nil, false},
		{"request, untrusted", listener.ClientAuthRequest, &bad, true},
		{"none, untrusted ignored", listener.ClientAuthNone, &bad, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, events := newBroker(t)
			conf, err := listener.NewTLSConfig(listener.TLSSettings{CertFile: server.CertFile, KeyFile: server.KeyFile,
				CAFile: ca.File, ClientAuth: tc.clientAuth})
			require.NoError(t, err)
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			serve(t, s, listener.Wrap(raw, listener.AcceptOptions{Name: "tls", TLS: conf}), broker.ListenerOptions{Name: "tls"})
			nc, err := tlsClient(t, raw.Addr().String(), ca, tc.cert)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			pahoConnect(t, nc, "c", "")
			require.Equal(t, "c", waitEvent(t, events).ClientID)
		})
	}
}

// TestTLS_reload swaps the certificate: new handshakes get the new one,
// the connection made before keeps working.
func TestTLS_reload(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	first := ca.Server(t, "first")
	second := ca.Server(t, "second")
	s, events := newBroker(t)
	conf, err := listener.NewTLSConfig(listener.TLSSettings{CertFile: first.CertFile, KeyFile: first.KeyFile})
	require.NoError(t, err)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serve(t, s, listener.Wrap(raw, listener.AcceptOptions{Name: "tls", TLS: conf}), broker.ListenerOptions{Name: "tls"})

	old, err := tlsClient(t, raw.Addr().String(), ca, nil)
	require.NoError(t, err)
	require.Equal(t, "first", old.ConnectionState().PeerCertificates[0].Subject.CommonName)
	oldClient := pahoConnect(t, old, "old", "")
	waitEvent(t, events)

	require.Error(t, conf.Reload(listener.TLSSettings{CertFile: second.CertFile, KeyFile: first.KeyFile}), "mismatched key")
	require.Equal(t, "first", conf.Certificate().Subject.CommonName, "a failed reload keeps the old certificate")
	require.NoError(t, conf.Reload(listener.TLSSettings{CertFile: second.CertFile, KeyFile: second.KeyFile}))
	fresh, err := tlsClient(t, raw.Addr().String(), ca, nil)
	require.NoError(t, err)
	require.Equal(t, "second", fresh.ConnectionState().PeerCertificates[0].Subject.CommonName)
	pahoConnect(t, fresh, "fresh", "")
	waitEvent(t, events)

	_, err = oldClient.Publish(t.Context(), &paho.Publish{Topic: "still/here", QoS: 1})
	require.NoError(t, err, "the connection made before the reload still works")
}

func TestTLS_minVersion(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	server := ca.Server(t, "hub")
	conf, err := listener.NewTLSConfig(listener.TLSSettings{CertFile: server.CertFile, KeyFile: server.KeyFile, MinVersion: "1.3"})
	require.NoError(t, err)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s, _ := newBroker(t)
	serve(t, s, listener.Wrap(raw, listener.AcceptOptions{Name: "tls", TLS: conf}), broker.ListenerOptions{Name: "tls"})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	_, err = tls.Dial("tcp", raw.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost",
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12})
	require.Error(t, err, "TLS 1.2 refused by a 1.3 listener")
}

func TestTLS_badFiles(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	server := ca.Server(t, "hub")
	notPEM := t.TempDir() + "/ca.pem"
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	tests := []struct {
		name string
		s    listener.TLSSettings
	}{
		{"missing cert", listener.TLSSettings{CertFile: "/nonexistent.pem", KeyFile: server.KeyFile}},
		{"key is not a key", listener.TLSSettings{CertFile: server.CertFile, KeyFile: server.CertFile}},
		{"ca not pem", listener.TLSSettings{CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: notPEM, ClientAuth: "require"}},
		{"require without ca", listener.TLSSettings{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientAuth: "require"}},
		{"bad version", listener.TLSSettings{CertFile: server.CertFile, KeyFile: server.KeyFile, MinVersion: "1.0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := listener.NewTLSConfig(tc.s)
			require.Error(t, err)
		})
	}
}

// TestTLS_silentClient: a client that never starts the handshake is cut
// off after the handshake timeout and holds up nobody meanwhile.
func TestTLS_silentClient(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	server := ca.Server(t, "hub")
	conf, err := listener.NewTLSConfig(listener.TLSSettings{CertFile: server.CertFile, KeyFile: server.KeyFile})
	require.NoError(t, err)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s, events := newBroker(t)
	serve(t, s, listener.Wrap(raw, listener.AcceptOptions{Name: "tls", TLS: conf, HandshakeTimeout: 300 * time.Millisecond}),
		broker.ListenerOptions{Name: "tls"})
	silent := testutil.Dial(t, raw.Addr().String())

	nc, err := tlsClient(t, raw.Addr().String(), ca, nil)
	require.NoError(t, err)
	pahoConnect(t, nc, "while-silent", "")
	require.Equal(t, "while-silent", waitEvent(t, events).ClientID)

	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = silent.Read(make([]byte, 1))
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the hub closed the silent connection: %v", err)
}

// Idle TLS connections park on the socket under TLS (listener.Conn is a
// broker.SocketConn) and are still read, and written, through TLS.
func TestTLS_idleConnectionsPark(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	server := ca.Server(t, "hub")
	s, _ := testutil.StartBroker(t, func(o *broker.Options) { o.ParkIdleAfter = 20 * time.Millisecond })
	conf, err := listener.NewTLSConfig(listener.TLSSettings{CertFile: server.CertFile, KeyFile: server.KeyFile})
	require.NoError(t, err)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serve(t, s, listener.Wrap(raw, listener.AcceptOptions{Name: "tls", TLS: conf}), broker.ListenerOptions{Name: "tls"})
	awaitParked := func(n int64) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, func() bool {
			st := s.Stats()
			return st.ParkedConnections == n && st.ReleasedSockets == n
		}, "TLS connections parked, their sockets released under TLS")
	}

	got := make(chan *paho.Publish, 10)
	subConn, err := tlsClient(t, raw.Addr().String(), ca, nil)
	require.NoError(t, err)
	sub := paho.NewClient(paho.ClientConfig{Conn: threadSafe(subConn), OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { got <- pr.Packet; return true, nil }}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = sub.Connect(ctx, &paho.Connect{ClientID: "tls-sub", KeepAlive: 30, CleanStart: true})
	require.NoError(t, err)
	_, err = sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "tls/#", QoS: 1}}})
	require.NoError(t, err)
	pubConn, err := tlsClient(t, raw.Addr().String(), ca, nil)
	require.NoError(t, err)
	pub := pahoConnect(t, pubConn, "tls-pub", "")
	awaitParked(2)

	for i := range 3 {
		_, err = pub.Publish(ctx, &paho.Publish{Topic: "tls/lock", QoS: 1, Payload: []byte{byte(i)}})
		require.NoError(t, err, "a parked TLS publisher is woken and acknowledged")
		select {
		case p := <-got:
			require.Equal(t, []byte{byte(i)}, p.Payload)
		case <-time.After(10 * time.Second):
			t.Fatal("the parked TLS subscriber got nothing")
		}
		awaitParked(2)
	}
}
