package broker_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/listener"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// parkQuicklyAfter is how soon the park tests' connections count as idle.
const parkQuicklyAfter = 20 * time.Millisecond

func parkQuickly(o *broker.Options) { o.ParkIdleAfter = parkQuicklyAfter }

// awaitParked waits until n connections of s are parked.
func awaitParked(t *testing.T, s *broker.Server, n int64) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() bool { return s.Stats().ParkedConnections == n },
		fmt.Sprintf("%d connections parked", n))
}

// readerGoroutines counts goroutines running a connection's read loop (of
// any server in this process: park tests do not run in parallel).
func readerGoroutines() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "broker.(*conn).loop(")
}

func TestPark_idleConnectionsHoldNoReader(t *testing.T) {
	s, addr := testutil.StartBroker(t, parkQuickly)
	sub := connectV3(t, addr, "park-sub", nil)
	sub.sub(t, "park/#", 1)
	const n = 10
	devs := make([]*rawClient, n)
	for i := range devs {
		devs[i], _ = connectRaw(t, addr, fmt.Sprintf("park-%d", i), nil)
	}
	awaitParked(t, s, n+1)
	require.Zero(t, readerGoroutines(), "parked connections have no read loop")

	// A parked device wakes for its next packet; a parked subscriber
	// still gets deliveries (writing needs no reader).
	for i, d := range devs {
		d.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: fmt.Sprintf("park/%d", i), Payload: []byte("p")})
		ack, ok := d.read().(*packet.Ack)
		require.True(t, ok, "PUBACK from a woken connection")
		require.Equal(t, uint16(1), ack.PacketID)
	}
	got := map[string]bool{}
	for range n {
		got[sub.next(t).Topic()] = true
	}
	require.Len(t, got, n)
	ping(t, devs[0])
	awaitParked(t, s, n+1)
}

func TestPark_keepAliveRunsOutWhileParked(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			s, addr := testutil.StartBroker(t, parkQuickly)
			ev := recordEvents(t, s)
			start := time.Now()
			rc, _ := connectRaw(t, addr, "sleepy", func(cp *packet.Connect) { cp.Version, cp.KeepAlive = v, 1 })
			awaitParked(t, s, 1)
			d := rc.closed()
			require.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond, "not before 1.5 × keep alive")
			if v == packet.V5 {
				require.NotNil(t, d)
				require.Equal(t, packet.KeepAliveTimeout, d.ReasonCode)
			}
			require.Equal(t, "keepalive_timeout", ev.wait(t, msg.EventClientDisconnected, "sleepy").Reason)
			require.Zero(t, s.Stats().ParkedConnections)
		})
	}
}

func TestPark_pingsKeepAParkedConnection(t *testing.T) {
	s, addr := testutil.StartBroker(t, parkQuickly)
	rc, _ := connectRaw(t, addr, "pinger", func(cp *packet.Connect) { cp.KeepAlive = 1 })
	for range 3 {
		awaitParked(t, s, 1)
		// Later than the park, sooner than 1.5 × keep alive.
		time.Sleep(900 * time.Millisecond)
		ping(t, rc)
	}
}

func TestPark_hubClosesParkedConnection(t *testing.T) {
	tests := []struct {
		name   string
		close  func(t *testing.T, s *broker.Server, addr string)
		code   packet.ReasonCode
		reason string
	}{
		{"kick", func(t *testing.T, s *broker.Server, _ string) { require.NoError(t, s.Kick("dev")) },
			packet.AdministrativeAction, "kicked"},
		{"takeover", func(t *testing.T, _ *broker.Server, addr string) { connectRaw(t, addr, "dev", nil) },
			packet.SessionTakenOver, "takenover"},
		{"shutdown", func(t *testing.T, s *broker.Server, _ string) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, s.Shutdown(ctx))
		}, packet.ServerShuttingDown, "server_shutdown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, addr := testutil.StartBroker(t, parkQuickly)
			ev := recordEvents(t, s)
			rc, _ := connectRaw(t, addr, "dev", nil)
			awaitParked(t, s, 1)
			tt.close(t, s, addr)
			d := rc.closed()
			require.NotNil(t, d, "DISCONNECT before the close")
			require.Equal(t, tt.code, d.ReasonCode)
			require.Equal(t, tt.reason, ev.wait(t, msg.EventClientDisconnected, "dev").Reason)
		})
	}
}

func TestPark_peerHangsUpWhileParked(t *testing.T) {
	s, addr := testutil.StartBroker(t, parkQuickly)
	ev := recordEvents(t, s)
	rc, _ := connectRaw(t, addr, "gone", nil)
	awaitParked(t, s, 1)
	require.NoError(t, rc.conn.Close())
	require.Equal(t, "closed", ev.wait(t, msg.EventClientDisconnected, "gone").Reason)
	testutil.Eventually(t, 10*time.Second, func() bool { return s.Stats().Connections == 0 }, "connection released")
	require.Zero(t, s.Stats().ParkedConnections)
}

// A packet whose bytes straddle the idle deadline is read whole: the short
// deadline only parks a connection between packets.
func TestPark_packetSplitAcrossIdleDeadline(t *testing.T) {
	pub := &packet.Publish{QoS: 1, PacketID: 7, Topic: "split/t", Payload: []byte("0123456789abcdef")}
	whole, err := pub.AppendTo(nil, packet.V5)
	require.NoError(t, err)
	for _, cut := range []int{1, 2, 6, len(whole) - 1} {
		t.Run(fmt.Sprintf("after %d bytes", cut), func(t *testing.T) {
			_, addr := testutil.StartBroker(t, parkQuickly)
			sub := connectV5(t, addr, "split-sub", nil)
			sub.subscribe(t, paho.SubscribeOptions{Topic: "split/#", QoS: 1})
			rc, _ := connectRaw(t, addr, "splitter", nil)
			rc.write(whole[:cut])
			// Let the idle deadline pass with the packet half in.
			time.Sleep(10 * parkQuicklyAfter)
			rc.write(whole[cut:])
			ack, ok := rc.read().(*packet.Ack)
			require.True(t, ok, "PUBACK")
			require.Equal(t, uint16(7), ack.PacketID)
			require.Equal(t, pub.Payload, sub.next(t).Payload)
		})
	}
}

// Connections that come, park and go from several goroutines leave nothing
// behind (file descriptors are reused under the poller: run with -race).
func TestPark_churn(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.ParkIdleAfter = time.Millisecond })
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				rc, _ := connectRaw(t, addr, fmt.Sprintf("churn-%d-%d", w, r), nil)
				if r%2 == 0 {
					ping(t, rc)
				}
				_ = rc.conn.Close()
			}
		})
	}
	wg.Wait()
	testutil.Eventually(t, 10*time.Second, func() bool {
		st := s.Stats()
		return st.Connections == 0 && st.ParkedConnections == 0
	}, "every connection released")
	require.Zero(t, readerGoroutines())
}

func TestPark_disabled(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.ParkIdleAfter = -1 })
	rc, _ := connectRaw(t, addr, "busy", nil)
	ping(t, rc)
	require.Zero(t, s.Stats().ParkedConnections)
	require.Equal(t, 1, readerGoroutines())
}

// TestPark_quietConnectionsParkAtOnce: with an idle bound no test waits
// for, a connection parks as soon as its CONNECT is handled, and again as
// soon as a wake after a quiet spell is handled; only a connection that
// keeps sending keeps its read loop.
func TestPark_quietConnectionsParkAtOnce(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.ParkIdleAfter = time.Hour })
	const n = 10
	devs := make([]*rawClient, n)
	for i := range devs {
		devs[i], _ = connectRaw(t, addr, fmt.Sprintf("quiet-%d", i), nil)
	}
	awaitParked(t, s, n)
	require.Zero(t, readerGoroutines(), "no read loop waits for the idle bound")

	ping(t, devs[0]) // the first wake: parks again at once
	awaitParked(t, s, n)

	ping(t, devs[0]) // woken again within the bound: busy, keeps its loop
	require.Eventually(t, func() bool { return s.Stats().ParkedConnections == n-1 }, 10*time.Second, time.Millisecond)
	ping(t, devs[0])
	require.Equal(t, int64(n-1), s.Stats().ParkedConnections)
}

// TestPark_quietTLSConnectionTakesBufferedRecords: a TLS connection parks
// at once after its CONNECT only when nothing is buffered above the
// socket; packets sent in the CONNECT's TLS record are answered, then it
// parks.
func TestPark_quietTLSConnectionTakesBufferedRecords(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	server := ca.Server(t, "hub")
	s, _ := testutil.StartBroker(t, func(o *broker.Options) { o.ParkIdleAfter = time.Hour })
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
	c, err := tls.Dial("tcp", raw.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
	b, err := (&packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true, KeepAlive: 300, ClientID: "quiet-tls"}).AppendTo(nil, packet.V311)
	require.NoError(t, err)
	pingreq := []byte{0xc0, 0}
	// One write, one TLS record: the PINGREQs wait decrypted in the TLS
	// layer, where a poller on the socket would never see them.
	_, err = c.Write(append(append(b, pingreq...), pingreq...))
	require.NoError(t, err)
	for _, want := range []packet.Type{packet.TypeConnack, packet.TypePingresp, packet.TypePingresp} {
		p, err := packet.ReadPacket(c, packet.V311, 1<<10)
		require.NoError(t, err)
		require.Equal(t, want, p.Type())
	}
	awaitParked(t, s, 1)

	_, err = c.Write(pingreq) // the first wake parks again at once
	require.NoError(t, err)
	p, err := packet.ReadPacket(c, packet.V311, 1<<10)
	require.NoError(t, err)
	require.Equal(t, packet.TypePingresp, p.Type())
	awaitParked(t, s, 1)
}
