//go:build memtest

package broker_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/listener"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// TestIdleMemoryTLS reports the Go heap and stack held per idle TLS
// connection, parked and not (2,000 connections; client and server share
// the process, so the figures include the client side's TLS state). It
// measures, asserts nothing, and runs only with -tags memtest:
//
//	go test -tags memtest -run TestIdleMemoryTLS -v ./internal/broker/
func TestIdleMemoryTLS(t *testing.T) {
	const n = 2000
	for _, park := range []time.Duration{-1, 50 * time.Millisecond} {
		t.Run(fmt.Sprintf("park_idle_after=%v", park), func(t *testing.T) {
			ca := testutil.NewCA(t, "test CA")
			server := ca.Server(t, "hub")
			s, _ := testutil.StartBroker(t, func(o *broker.Options) { o.ParkIdleAfter = park })
			conf, err := listener.NewTLSConfig(listener.TLSSettings{CertFile: server.CertFile, KeyFile: server.KeyFile})
			require.NoError(t, err)
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			go func() {
				_ = s.ServeListener(listener.Wrap(raw, listener.AcceptOptions{Name: "tls", TLS: conf}), broker.ListenerOptions{Name: "tls"})
			}()
			t.Cleanup(func() { _ = raw.Close() })

			pool := x509.NewCertPool()
			pool.AddCert(ca.Cert)
			cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
			connect, err := (&packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true, KeepAlive: 0}).AppendTo(nil, packet.V311)
			require.NoError(t, err)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			conns := make([]*tls.Conn, 0, n)
			for i := range n {
				c, err := tls.Dial("tcp", raw.Addr().String(), cfg)
				require.NoError(t, err)
				conns = append(conns, c)
				cp := &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true, ClientID: fmt.Sprintf("tls-%d", i)}
				b, err := cp.AppendTo(connect[:0:0], packet.V311)
				require.NoError(t, err)
				_, err = c.Write(b)
				require.NoError(t, err)
				_, err = packet.ReadPacket(c, packet.V311, 1<<10) // CONNACK
				require.NoError(t, err)
			}
			t.Cleanup(func() {
				for _, c := range conns {
					_ = c.Close()
				}
			})
			if park > 0 {
				testutil.Eventually(t, time.Minute, func() bool { return s.Stats().ParkedConnections == n }, "all parked")
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			t.Logf("per idle TLS connection: heap %d B, stack %d B (client side included)",
				(int64(after.HeapInuse)-int64(before.HeapInuse))/n, (int64(after.StackInuse)-int64(before.StackInuse))/n)
		})
	}
}
