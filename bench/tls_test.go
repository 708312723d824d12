package bench

import (
	"context"
	"crypto/tls"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/listener"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// startTLSBroker starts a broker behind iothub's own TLS listener (the one
// `listeners.tls` opens) with a certificate of ca for localhost/127.0.0.1;
// clientAuth is none, request or require (client certificates of ca).
func startTLSBroker(t *testing.T, ca *testutil.CA, clientAuth string) (*broker.Server, string) {
	t.Helper()
	srv := ca.Server(t, "localhost")
	tc, err := listener.NewTLSConfig(listener.TLSSettings{CertFile: srv.CertFile, KeyFile: srv.KeyFile, CAFile: ca.File, ClientAuth: clientAuth})
	require.NoError(t, err)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := listener.Wrap(raw, listener.AcceptOptions{Name: "tls", TLS: tc, Logger: testutil.Logger(t)})
	return testutil.ServeBroker(t, nil, ln, "tls"), raw.Addr().String()
}

func TestRunConn_TLS(t *testing.T) {
	ca := testutil.NewCA(t, "bench test CA")
	other := testutil.NewCA(t, "untrusted CA")
	client := ca.Client(t, "bench-device")
	_, addr := startTLSBroker(t, ca, listener.ClientAuthRequest)
	_, mtlsAddr := startTLSBroker(t, ca, listener.ClientAuthRequire)
	tests := []struct {
		name    string
		addr    string
		tls     TLSOptions
		wantErr string // in FirstErrors; empty: every connection succeeds
	}{
		{"cafile verifies", addr, TLSOptions{Enabled: true, CAFile: ca.File}, ""},
		{"servername localhost", addr, TLSOptions{Enabled: true, CAFile: ca.File, ServerName: "localhost"}, ""},
		{"insecure", addr, TLSOptions{Enabled: true, Insecure: true}, ""},
		{"classical curves only", addr, TLSOptions{Enabled: true, CAFile: ca.File, Curves: "x25519, P256"}, ""},
		{"mtls", mtlsAddr, TLSOptions{Enabled: true, CAFile: ca.File, CertFile: client.CertFile, KeyFile: client.KeyFile}, ""},
		{"untrusted ca", addr, TLSOptions{Enabled: true, CAFile: other.File}, "certificate signed by unknown authority"},
		{"system roots", addr, TLSOptions{Enabled: true}, "certificate signed by unknown authority"},
		{"wrong servername", addr, TLSOptions{Enabled: true, CAFile: ca.File, ServerName: "broker.example"}, "not broker.example"},
		{"mtls without certificate", mtlsAddr, TLSOptions{Enabled: true, CAFile: ca.File}, "certificate required"},
		{"plain tcp to tls", addr, TLSOptions{}, "read connack"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := RunConn(context.Background(), ConnOptions{Addr: tc.addr, Count: 3, Concurrency: 2,
				KeepAlive: time.Minute, ClientPrefix: "c-", TLS: tc.tls})
			require.NoError(t, err)
			if tc.wantErr == "" {
				require.Equal(t, 3, res.Connected, res.FirstErrors)
				require.Zero(t, res.Failed)
				return
			}
			require.Zero(t, res.Connected)
			require.Equal(t, 3, res.Failed)
			require.NotEmpty(t, res.FirstErrors)
			require.Contains(t, res.FirstErrors[0], tc.wantErr)
		})
	}
}

func TestTLSOptions_badFiles(t *testing.T) {
	ca := testutil.NewCA(t, "bench test CA")
	client := ca.Client(t, "bench-device")
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	require.NoError(t, os.WriteFile(empty, []byte("not a certificate\n"), 0o600))
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name    string
		tls     TLSOptions
		wantErr string
		is      error
	}{
		{"cafile without certificates", TLSOptions{Enabled: true, CAFile: empty}, "bench conn: --cafile " + empty + ": no certificates found", nil},
		{"cafile missing", TLSOptions{Enabled: true, CAFile: missing}, "--cafile: open " + missing, fs.ErrNotExist},
		{"cert is not pem", TLSOptions{Enabled: true, CertFile: empty, KeyFile: client.KeyFile}, "--cert " + empty + " --key " + client.KeyFile + ": tls:", nil},
		{"key missing", TLSOptions{Enabled: true, CertFile: client.CertFile, KeyFile: missing}, "--key " + missing, fs.ErrNotExist},
		{"cert without key", TLSOptions{Enabled: true, CertFile: client.CertFile}, "--cert and --key go together", ErrTLSFlags},
		{"insecure and cafile", TLSOptions{Enabled: true, Insecure: true, CAFile: ca.File}, "pass one of them", ErrTLSFlags},
		{"cafile without tls", TLSOptions{CAFile: ca.File}, "need --tls", ErrTLSFlags},
		{"curves without tls", TLSOptions{Curves: "x25519"}, "need --tls", ErrTLSFlags},
		{"unknown curve", TLSOptions{Enabled: true, Insecure: true, Curves: "x25519,kyber"}, `"kyber" is none of`, ErrTLSFlags},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Nothing listens: the options fail before any dial.
			_, err := RunConn(context.Background(), ConnOptions{Addr: "127.0.0.1:1", Count: 1, TLS: tc.tls})
			require.ErrorContains(t, err, tc.wantErr)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			_, err = RunPub(context.Background(), PubOptions{ClientOptions: ClientOptions{Addr: "127.0.0.1:1", TLS: tc.tls},
				Clients: 1, Count: 1, Duration: time.Second, Topic: "t"})
			require.ErrorContains(t, err, tc.wantErr[max(0, len(tc.wantErr)-20):], "pub reports the same")
		})
	}
}

func TestRunPubSubSimulate_TLS(t *testing.T) {
	ca := testutil.NewCA(t, "bench test CA")
	client := ca.Client(t, "bench-device")
	s, addr := startTLSBroker(t, ca, listener.ClientAuthRequest)
	ctx := context.Background()
	tests := []struct {
		name string
		tls  TLSOptions
		qos  byte
	}{
		{"cafile qos0", TLSOptions{Enabled: true, CAFile: ca.File}, 0},
		{"cafile qos1", TLSOptions{Enabled: true, CAFile: ca.File}, 1},
		{"mtls qos2", TLSOptions{Enabled: true, CAFile: ca.File, CertFile: client.CertFile, KeyFile: client.KeyFile}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			co := ClientOptions{Addr: addr, TLS: tc.tls, ClientPrefix: "s-" + tc.name + "-"}
			subDone := make(chan SubResult, 1)
			subErr := make(chan error, 1)
			ready := make(chan struct{})
			go func() {
				res, err := RunSub(ctx, SubOptions{ClientOptions: co, Clients: 2, Filter: "tls/" + tc.name + "/#", QoS: tc.qos,
					Count: 2 * 20, Duration: time.Minute, Progress: readyWriter(ready)})
				subErr <- err
				subDone <- res
			}()
			select {
			case <-ready:
			case err := <-subErr:
				t.Fatalf("sub ended before subscribing: %v", err)
			}
			co.ClientPrefix = "p-" + tc.name + "-"
			res, err := RunPub(ctx, PubOptions{ClientOptions: co, Clients: 2, Count: 10, Duration: time.Minute,
				QoS: tc.qos, Topic: "tls/" + tc.name + "/%i", Size: 32})
			require.NoError(t, err)
			require.Equal(t, uint64(20), res.Published)
			require.Zero(t, res.Errors, res.FirstError)
			require.NoError(t, <-subErr)
			sub := <-subDone
			require.Equal(t, uint64(40), sub.Received, "every message reached both subscribers")
		})
	}
	t.Run("simulate", func(t *testing.T) {
		before := s.Stats().MessagesIn
		res, err := RunSimulate(ctx, SimOptions{ClientOptions: ClientOptions{Addr: addr, TLS: TLSOptions{Enabled: true, CAFile: ca.File}},
			Scenario: "vehicles", Devices: 2, Interval: 50 * time.Millisecond, Duration: 500 * time.Millisecond})
		require.NoError(t, err)
		require.Zero(t, res.Errors, res.FirstError)
		require.Positive(t, res.Published)
		require.Greater(t, s.Stats().MessagesIn, before)
	})
}

// TestTLSOptions_curvesOffered checks what the ClientHello of --curves
// offers, as the server sees it.
func TestTLSOptions_curvesOffered(t *testing.T) {
	ca := testutil.NewCA(t, "bench test CA")
	srv := ca.Server(t, "localhost")
	cert, err := tls.LoadX509KeyPair(srv.CertFile, srv.KeyFile)
	require.NoError(t, err)
	offered := make(chan []tls.CurveID, 1)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			offered <- hello.SupportedCurves
			return nil, nil
		}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	tests := []struct {
		curves string
		want   []tls.CurveID
	}{
		{"x25519", []tls.CurveID{tls.X25519}},
		{"p256,x25519", []tls.CurveID{tls.CurveP256, tls.X25519}},
		{"", nil}, // Go's default list: starts with the post-quantum hybrid
	}
	for _, tc := range tests {
		t.Run(tc.curves, func(t *testing.T) {
			d, err := newDialer(ln.Addr().String(), TLSOptions{Enabled: true, CAFile: ca.File, ServerName: "localhost", Curves: tc.curves})
			require.NoError(t, err)
			nc, err := d.dial(context.Background(), nil)
			require.NoError(t, err)
			_ = nc.Close()
			got := <-offered
			if tc.want == nil {
				require.Equal(t, tls.X25519MLKEM768, got[0])
				return
			}
			require.ElementsMatch(t, tc.want, got, "Go orders the offer itself")
		})
	}
}
