package listener_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/listener"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// startWS serves MQTT over WebSocket on a loopback port (wrapped as accept
// says) and returns its address.
func startWS(t *testing.T, s *broker.Server, o listener.WebSocketOptions, accept listener.AcceptOptions, lo broker.ListenerOptions) string {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o.Name, o.Path, o.Logger = lo.Name, "/mqtt", testutil.Logger(t)
	require.NoError(t, s.SetListenerLimits(lo))
	ws := listener.NewWebSocket(o, func(nc net.Conn, _ string) { s.ServeConnWith(nc, lo) })
	done := make(chan struct{})
	go func() { defer close(done); _ = ws.Serve(listener.Wrap(raw, accept)) }()
	t.Cleanup(func() { _ = ws.Close(); <-done })
	return raw.Addr().String()
}

func dialWS(t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	opts.Subprotocols = []string{"mqtt"}
	c, resp, err := websocket.Dial(ctx, url, opts)
	require.NoError(t, err)
	require.Equal(t, "mqtt", c.Subprotocol())
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// readFrames reads binary frames until n bytes arrived.
func readFrames(t *testing.T, c *websocket.Conn, n int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []byte
	for len(got) < n {
		typ, b, err := c.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, websocket.MessageBinary, typ)
		got = append(got, b...)
	}
	return got
}

func TestWebSocket_framing(t *testing.T) {
	s, _ := newBroker(t)
	addr := startWS(t, s, listener.WebSocketOptions{}, listener.AcceptOptions{}, broker.ListenerOptions{Name: "ws"})
	c := dialWS(t, "ws://"+addr+"/mqtt", nil)
	ctx := t.Context()
	connect := []byte("\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02id")
	// One packet split across three frames.
	for _, part := range [][]byte{connect[:1], connect[1:7], connect[7:]} {
		require.NoError(t, c.Write(ctx, websocket.MessageBinary, part))
	}
	require.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, readFrames(t, c, 4), "CONNACK")
	// SUBSCRIBE and PINGREQ in one frame.
	subscribe := []byte("\x82\x06\x00\x01\x00\x01a\x00")
	require.NoError(t, c.Write(ctx, websocket.MessageBinary, append(subscribe, 0xc0, 0x00)))
	require.Equal(t, []byte{0x90, 0x03, 0x00, 0x01, 0x00, 0xd0, 0x00}, readFrames(t, c, 7), "SUBACK then PINGRESP")
}

func TestWebSocket_plainHTTP(t *testing.T) {
	s, _ := newBroker(t)
	addr := startWS(t, s, listener.WebSocketOptions{}, listener.AcceptOptions{}, broker.ListenerOptions{Name: "ws"})
	for _, path := range []string{"/mqtt", "/other"} {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		require.Contains(t, []int{http.StatusBadRequest, http.StatusUpgradeRequired, http.StatusNotFound}, resp.StatusCode, path)
	}
	dialWS(t, "ws://"+addr+"/mqtt", nil) // still serving
}

// TestWebSocket_idleHTTPClosed: a client that never upgrades holds its
// socket no longer than HTTPTimeout, whether it sends nothing, half a
// request, or a request and then waits on the kept-alive connection.
func TestWebSocket_idleHTTPClosed(t *testing.T) {
	s, _ := newBroker(t)
	addr := startWS(t, s, listener.WebSocketOptions{HTTPTimeout: 200 * time.Millisecond}, listener.AcceptOptions{}, broker.ListenerOptions{Name: "ws"})
	for name, send := range map[string]string{
		"nothing":          "",
		"half a request":   "GET /mqtt HTTP/1.1\r\nHost: x\r\n",
		"request and idle": "GET /other HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer c.Close()
			_, err = io.WriteString(c, send)
			require.NoError(t, err)
			require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
			_, err = io.Copy(io.Discard, c) // returns when the hub closes
			require.NoError(t, err, "closed by the hub, not by our deadline")
		})
	}
}

// TestWebSocket_largeHeadersRefused: headers beyond the bound get 431.
func TestWebSocket_largeHeadersRefused(t *testing.T) {
	s, _ := newBroker(t)
	addr := startWS(t, s, listener.WebSocketOptions{}, listener.AcceptOptions{}, broker.ListenerOptions{Name: "ws"})
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/mqtt", nil)
	require.NoError(t, err)
	req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
}

func TestWebSocket_origins(t *testing.T) {
	s, _ := newBroker(t)
	addr := startWS(t, s, listener.WebSocketOptions{AllowedOrigins: []string{"app.example.com"}}, listener.AcceptOptions{}, broker.ListenerOptions{Name: "ws"})
	dialWS(t, "ws://"+addr+"/mqtt", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://app.example.com"}}})
	_, resp, err := websocket.Dial(t.Context(), "ws://"+addr+"/mqtt", &websocket.DialOptions{
		Subprotocols: []string{"mqtt"}, HTTPHeader: http.Header{"Origin": {"https://evil.example.net"}}})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestWebSocket_forwardedFor(t *testing.T) {
	tests := []struct {
		name, trusted, want string
	}{
		{"trusted proxy", "127.0.0.1", "203.0.113.7:0"},
		{"untrusted", "10.0.0.0/8", "127.0.0.1:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, events := newBroker(t)
			proxies, err := listener.ParseTrustedProxies([]string{tc.trusted})
			require.NoError(t, err)
			addr := startWS(t, s, listener.WebSocketOptions{TrustedProxies: proxies}, listener.AcceptOptions{}, broker.ListenerOptions{Name: "ws"})
			c := dialWS(t, "ws://"+addr+"/mqtt", &websocket.DialOptions{HTTPHeader: http.Header{"X-Forwarded-For": {"203.0.113.7"}}})
			pahoConnect(t, websocket.NetConn(t.Context(), c, websocket.MessageBinary), "xff", "")
			require.Contains(t, waitEvent(t, events).PeerHost, tc.want)
		})
	}
}

// TestWSS_identity: WebSocket over TLS with a client certificate whose CN
// becomes the client id.
func TestWSS_identity(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	server := ca.Server(t, "hub")
	client := ca.Client(t, "lock-7")
	conf, err := listener.NewTLSConfig(listener.TLSSettings{CertFile: server.CertFile, KeyFile: server.KeyFile,
		CAFile: ca.File, ClientAuth: listener.ClientAuthRequire, NextProtos: []string{"http/1.1"}})
	require.NoError(t, err)
	s, events := newBroker(t)
	addr := startWS(t, s, listener.WebSocketOptions{}, listener.AcceptOptions{TLS: conf, IdentityFrom: "cn", IdentityAs: "client_id"},
		broker.ListenerOptions{Name: "wss"})
	pair, err := tls.LoadX509KeyPair(client.CertFile, client.KeyFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}}}
	c := dialWS(t, "wss://localhost:"+portOf(addr)+"/mqtt", &websocket.DialOptions{HTTPClient: hc})
	pahoConnect(t, websocket.NetConn(t.Context(), c, websocket.MessageBinary), "ignored", "")
	require.Equal(t, "lock-7", waitEvent(t, events).ClientID)
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestListenerLimits: a listener's own connection cap and packet size
// apply to it alone.
func TestListenerLimits(t *testing.T) {
	s, _ := newBroker(t)
	addr := startWS(t, s, listener.WebSocketOptions{}, listener.AcceptOptions{}, broker.ListenerOptions{Name: "small", MaxConnections: 1, MaxPacketSize: 64})
	ctx := t.Context()
	connect := func(id string) []byte {
		c := dialWS(t, "ws://"+addr+"/mqtt", nil)
		require.NoError(t, c.Write(ctx, websocket.MessageBinary, append([]byte("\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02"), id...)))
		return readFrames(t, c, 4)
	}
	first := dialWS(t, "ws://"+addr+"/mqtt", nil)
	require.NoError(t, first.Write(ctx, websocket.MessageBinary, []byte("\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02c1")))
	require.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, readFrames(t, first, 4))
	require.Equal(t, []byte{0x20, 0x02, 0x00, 0x03}, connect("c2"), "second connection: server unavailable")
	// The refused connection is released once its CONNACK is on the way,
	// which the client may read first.
	testutil.Eventually(t, 10*time.Second, func() bool { return s.ListenerConnections("small") == 1 }, "the refused one is gone")

	// A 100-byte PUBLISH is over this listener's 64-byte limit.
	publish := append([]byte{0x30, 98, 0x00, 0x01, 't'}, make([]byte, 95)...)
	require.NoError(t, first.Write(ctx, websocket.MessageBinary, publish))
	_, _, err := first.Read(ctx)
	require.Error(t, err, "closed for a packet over the listener's limit")

	require.NoError(t, s.SetListenerLimits(broker.ListenerOptions{Name: "small", MaxConnections: 2}))
	testutil.Eventually(t, 10*time.Second, func() bool { return s.ListenerConnections("small") == 0 }, "first closed")
	require.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, connect("c3"))
	require.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, connect("c4"))
}

// An idle WebSocket connection parks like a TCP one (no goroutine), gets
// its messages while parked and wakes for the client's next packet.
func TestWebSocket_idleParks(t *testing.T) {
	s, _ := newBroker(t)
	addr := startWS(t, s, listener.WebSocketOptions{}, listener.AcceptOptions{}, broker.ListenerOptions{Name: "ws"})
	c := dialWS(t, "ws://"+addr+"/mqtt", nil)
	ctx := t.Context()
	require.NoError(t, c.Write(ctx, websocket.MessageBinary, []byte("\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02id")))
	require.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, readFrames(t, c, 4), "CONNACK")
	require.NoError(t, c.Write(ctx, websocket.MessageBinary, []byte("\x82\x06\x00\x01\x00\x01a\x00")))
	require.Equal(t, []byte{0x90, 0x03, 0x00, 0x01, 0x00}, readFrames(t, c, 5), "SUBACK")
	parkedAndReleased := func() bool { st := s.Stats(); return st.ParkedConnections == 1 && st.ReleasedSockets == 1 }
	testutil.Eventually(t, 10*time.Second, parkedAndReleased, "the idle WebSocket connection parks and releases its socket")

	_, err := s.Publish(ctx, &msg.Message{Topic: "a", Payload: []byte("hi")})
	require.NoError(t, err)
	require.Equal(t, []byte{0x30, 0x05, 0x00, 0x01, 'a', 'h', 'i'}, readFrames(t, c, 7), "delivered while parked")
	require.NoError(t, c.Write(ctx, websocket.MessageBinary, []byte{0xc0, 0x00}))
	require.Equal(t, []byte{0xd0, 0x00}, readFrames(t, c, 2), "PINGRESP: the reader woke")
	testutil.Eventually(t, 10*time.Second, parkedAndReleased, "parked and released again")

	require.NoError(t, s.Kick("id"))
	_, _, err = c.Read(ctx)
	require.Error(t, err, "a kicked released connection is closed")
	testutil.Eventually(t, 10*time.Second, func() bool { st := s.Stats(); return st.Connections == 0 && st.ReleasedSockets == 0 },
		"nothing left of the connection")
}
