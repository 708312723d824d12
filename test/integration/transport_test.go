package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// writeConfig writes a config file for one test and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "iothub.yaml")
	require.NoError(t, os.WriteFile(p, []byte(yaml), 0o600))
	return p
}

// waitLog waits until the hub has logged a line containing all of want.
func (h *hub) waitLog(t *testing.T, want ...string) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() bool {
		for _, line := range strings.Split(h.logs.String(), "\n") {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(line, w)
			}
			if ok {
				return true
			}
		}
		return false
	}, "hub log line containing "+strings.Join(want, " and "))
}

// port returns the port of a host:port.
func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// mosquittoPub runs mosquitto_pub against localhost:port and returns its
// error and output.
func mosquittoPub(t *testing.T, port string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool(t, "mosquitto_pub"), append([]string{"-h", "localhost", "-p", port}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// tlsHub starts a hub with a wss listener and two TLS listeners: "tls"
// (server certificate only) and "mtls" (client certificates required,
// the certificate's CN is the client id).
type tlsHub struct {
	*hub
	ca             *testutil.CA
	server         testutil.CertFiles
	tls, mtls, wss string
	config         string
}

// mtlsListener is the YAML of a listeners.tls entry, mtls, on addr that
// requires client certificates signed by the CA in caFile; the caller may
// append keys of the entry (identity_from, ...).
func mtlsListener(addr string, server testutil.CertFiles, caFile string) string {
	return `    - name: mtls
      address: "` + addr + `"
      cert_file: ` + server.CertFile + `
      key_file: ` + server.KeyFile + `
      ca_file: ` + caFile + `
      client_auth: require
`
}

func startTLSHub(t *testing.T) *tlsHub {
	t.Helper()
	th := &tlsHub{ca: testutil.NewCA(t, "iothub test CA"), tls: freePort(t), mtls: freePort(t), wss: freePort(t)}
	th.server = th.ca.Server(t, "iothub test server")
	th.config = writeConfig(t, `
listeners:
  tls:
    - name: tls
      address: "`+th.tls+`"
      cert_file: `+th.server.CertFile+`
      key_file: `+th.server.KeyFile+`
`+mtlsListener(th.mtls, th.server, th.ca.File)+`      identity_from: cn
      identity_as: client_id
  wss:
    - name: wss
      address: "`+th.wss+`"
      cert_file: `+th.server.CertFile+`
      key_file: `+th.server.KeyFile+`
`)
	th.hub = startHub(t, nil, "--config", th.config)
	waitListening(t, th.wss, th.exited)
	return th
}

// TestTransport_mqttjs runs MQTT.js (npm mqtt) over ws:// and wss://: MQTT
// 3.1.1 and 5.0, subscribe, QoS 0/1/2, retained.
func TestTransport_mqttjs(t *testing.T) {
	t.Parallel()
	node := tool(t, "node")
	script, err := filepath.Abs("mqttjs/mqttjs.mjs")
	require.NoError(t, err)
	_, err = os.Stat("mqttjs/node_modules/mqtt/package.json")
	require.NoError(t, err, "MQTT.js is missing: run scripts/test-deps.sh (npm ci in test/integration/mqttjs)")
	th := startTLSHub(t)
	tests := []struct{ name, url, ca string }{
		{"ws", "ws://" + th.ws + "/mqtt", ""},
		{"wss", "wss://localhost:" + port(th.wss) + "/mqtt", th.ca.File},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			args := []string{script, tc.url}
			if tc.ca != "" {
				args = append(args, tc.ca)
			}
			cmd := exec.CommandContext(ctx, node, args...)
			cmd.Dir = "mqttjs"
			out, err := cmd.CombinedOutput()
			require.NoErrorf(t, err, "node mqttjs.mjs %s:\n%s", tc.url, out)
			require.Contains(t, string(out), "PASS")
			for _, v := range []string{"v4", "v5"} {
				for _, check := range []string{"connect", "subscribe", "qos0", "qos1", "qos2", "retained"} {
					require.Contains(t, string(out), "ok "+check+" "+v)
				}
			}
		})
	}
}

// TestTransport_pahoWebSocket: paho.golang (MQTT 5) over a WebSocket.
func TestTransport_pahoWebSocket(t *testing.T) {
	t.Parallel()
	h := startHub(t, nil)
	dial := func(id string, onPublish func(*paho.Publish)) *paho.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, "ws://"+h.ws+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
		require.NoError(t, err)
		// paho writes from several goroutines; a WebSocket connection, unlike
		// TCP, must not be written concurrently (frames would interleave).
		conn := packets.NewThreadSafeConn(websocket.NetConn(context.Background(), ws, websocket.MessageBinary))
		cfg := paho.ClientConfig{Conn: conn, OnClientError: func(error) {}}
		if onPublish != nil {
			cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) { onPublish(pr.Packet); return true, nil },
			}
		}
		c := paho.NewClient(cfg)
		_, err = c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
		return c
	}
	got := make(chan *paho.Publish, 10)
	sub := dial("paho-ws-sub", func(p *paho.Publish) { got <- p })
	_, err := sub.Subscribe(t.Context(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "ws/#", QoS: 2}}})
	require.NoError(t, err)
	pub := dial("paho-ws-pub", nil)
	for qos := range byte(3) {
		_, err := pub.Publish(t.Context(), &paho.Publish{Topic: "ws/paho", QoS: qos, Payload: []byte{'0' + qos}})
		require.NoError(t, err)
		select {
		case p := <-got:
			require.Equal(t, []byte{'0' + qos}, p.Payload)
			require.Equal(t, qos, p.QoS)
		case <-time.After(10 * time.Second):
			t.Fatalf("QoS %d message not received over WebSocket", qos)
		}
	}
}

// TestTransport_mosquittoTLS: mosquitto's clients over TLS (--cafile) and
// mutual TLS (--cert/--key); an untrusted client certificate is refused
// while the others keep working.
func TestTransport_mosquittoTLS(t *testing.T) {
	t.Parallel()
	th := startTLSHub(t)
	good := th.ca.Client(t, "sensor-1")
	other := th.ca.Client(t, "sensor-2")
	rogue := testutil.NewCA(t, "rogue CA").Client(t, "sensor-1")
	tlsArgs := []string{"--cafile", th.ca.File}
	// The CN is the client id on the mtls listener: the subscriber is
	// sensor-1, the publisher sensor-2.
	mtlsArgs := []string{"--cafile", th.ca.File, "--cert", good.CertFile, "--key", good.KeyFile}
	mtlsPubArgs := []string{"--cafile", th.ca.File, "--cert", other.CertFile, "--key", other.KeyFile}

	t.Run("server certificate", func(t *testing.T) {
		s := startSub(t, th.hub, append([]string{"-h", "localhost", "-p", port(th.tls), "-t", "tls/a", "-q", "1", "-C", "1"}, tlsArgs...)...)
		s.waitLine(t, "received SUBACK")
		out, err := mosquittoPub(t, port(th.tls), append([]string{"-t", "tls/a", "-q", "1", "-m", "over-tls"}, tlsArgs...)...)
		require.NoError(t, err, out)
		s.waitLine(t, "MSG tls/a over-tls")
		out, err = mosquittoPub(t, port(th.tls), "-t", "tls/a", "-m", "no-ca")
		require.Error(t, err, "a client that does not trust the hub's CA fails: %s", out)
	})
	t.Run("mutual TLS", func(t *testing.T) {
		s := startSub(t, th.hub, append([]string{"-h", "localhost", "-p", port(th.mtls), "-V", "mqttv5", "-t", "mtls/#", "-q", "1", "-C", "2"}, mtlsArgs...)...)
		s.waitLine(t, "received SUBACK")
		out, err := mosquittoPub(t, port(th.mtls), append([]string{"-t", "mtls/a", "-q", "1", "-m", "first"}, mtlsPubArgs...)...)
		require.NoError(t, err, out)
		s.waitLine(t, "MSG mtls/a first")

		out, err = mosquittoPub(t, port(th.mtls), "--cafile", th.ca.File, "--cert", rogue.CertFile, "--key", rogue.KeyFile, "-t", "mtls/a", "-m", "rogue")
		require.Error(t, err, "untrusted client certificate refused: %s", out)
		out, err = mosquittoPub(t, port(th.mtls), "--cafile", th.ca.File, "-t", "mtls/a", "-m", "anonymous")
		require.Error(t, err, "no client certificate refused: %s", out)

		out, err = mosquittoPub(t, port(th.mtls), append([]string{"-t", "mtls/b", "-q", "1", "-m", "second"}, mtlsPubArgs...)...)
		require.NoError(t, err, out)
		s.waitLine(t, "MSG mtls/b second")
	})
	t.Run("identity from the certificate", func(t *testing.T) {
		// Two clients with the same certificate and different client ids
		// are the same client (CN sensor-1): the second takes over.
		taken := make(chan byte, 1)
		mtlsPaho(t, th, good, "first-id", func(d *paho.Disconnect) { taken <- d.ReasonCode })
		mtlsPaho(t, th, good, "second-id", nil)
		select {
		case code := <-taken:
			require.Equal(t, byte(0x8E), code, "session taken over")
		case <-time.After(15 * time.Second):
			t.Fatal("the first client was not taken over: the client id did not come from the certificate")
		}
	})
}

// mtlsPaho connects paho.golang (MQTT 5) to the mtls listener with cert.
func mtlsPaho(t *testing.T, th *tlsHub, cert testutil.CertFiles, id string, onDisconnect func(*paho.Disconnect)) *paho.Client {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(th.ca.Cert)
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", th.mtls,
		&tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(nc), OnServerDisconnect: onDisconnect, OnClientError: func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	require.Equal(t, byte(0), ack.ReasonCode)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// TestTransport_certificateReload: SIGHUP reads the certificate files again;
// new clients get the new certificate, the connected ones stay connected.
func TestTransport_certificateReload(t *testing.T) {
	t.Parallel()
	th := startTLSHub(t)
	s := startSub(t, th.hub, "-h", "localhost", "-p", port(th.tls), "--cafile", th.ca.File, "-t", "reload/#", "-q", "1", "-C", "2")
	s.waitLine(t, "received SUBACK")

	newCA := testutil.NewCA(t, "renewed CA")
	renewed := newCA.Server(t, "renewed server")
	for _, f := range [][2]string{{renewed.CertFile, th.server.CertFile}, {renewed.KeyFile, th.server.KeyFile}} {
		b, err := os.ReadFile(f[0])
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(f[1], b, 0o600))
	}
	require.NoError(t, th.cmd.Process.Signal(syscall.SIGHUP))
	th.waitLog(t, "configuration reloaded", "certificates=tls,mtls,wss")
	th.waitLog(t, "certificate reloaded", "renewed server")

	out, err := mosquittoPub(t, port(th.tls), "--cafile", th.ca.File, "-t", "reload/a", "-m", "old-ca")
	require.Error(t, err, "the old certificate is no longer served: %s", out)
	out, err = mosquittoPub(t, port(th.tls), "--cafile", newCA.File, "-t", "reload/a", "-q", "1", "-m", "after-reload")
	require.NoError(t, err, out)
	s.waitLine(t, "MSG reload/a after-reload")
}
