package mqtt_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/mqtt"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// mosquitto runs Debian's mosquitto on a free loopback port with conf
// (its ACL file readable by the mosquitto user); stopped at cleanup.
func mosquitto(t *testing.T, conf string) (addr string, stop func()) {
	t.Helper()
	bin := "/usr/sbin/mosquitto"
	if p, err := exec.LookPath("mosquitto"); err == nil {
		bin = p
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "mosquitto is not installed: run scripts/test-deps.sh")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr = ln.Addr().String()
	require.NoError(t, ln.Close())
	dir, err := os.MkdirTemp("", "iothub-mosq-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755)) //nolint:gosec // mosquitto reads its ACL as its own user
	acl := filepath.Join(dir, "acl")
	require.NoError(t, os.WriteFile(acl, []byte("topic readwrite up/ok/#\n"), 0o644)) //nolint:gosec // read by the mosquitto user
	_, port, _ := net.SplitHostPort(addr)
	cf := filepath.Join(dir, "mosquitto.conf")
	require.NoError(t, os.WriteFile(cf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\nacl_file "+acl+"\n"+conf), 0o644)) //nolint:gosec // idem
	cmd := exec.Command(bin, "-c", cf)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-done
		})
	}
	t.Cleanup(stop)
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	return addr, stop
}

// TestLink_mosquitto: records are forwarded to Mosquitto in order with
// their headers as user properties; a publish Mosquitto's ACL refuses is
// a permanent error of that record only; the status reporter hears of the
// connection going up and, when Mosquitto stops, down.
func TestLink_mosquitto(t *testing.T) {
	addr, stop := mosquitto(t, "")
	l, err := mqtt.New(mqtt.Options{Name: "up", Address: addr, ClientID: "link-test", QoS: 1,
		KeepAlive: 30 * time.Second, ConnectTimeout: 2 * time.Second, ReconnectMax: 200 * time.Millisecond, Logger: testutil.Logger(t)})
	require.NoError(t, err)
	states := make(chan error, 100)
	l.ReportStatus(func(err error) {
		select {
		case states <- err:
		default:
		}
	})
	require.NoError(t, l.Start())
	defer l.Close()
	select {
	case err := <-states:
		require.NoError(t, err, "connection up")
	case <-time.After(30 * time.Second):
		t.Fatal("no status report")
	}

	got := make(chan *paho.Publish, 10)
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	sub := paho.NewClient(paho.ClientConfig{Conn: nc, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { got <- pr.Packet; return true, nil }}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = sub.Connect(ctx, &paho.Connect{ClientID: "reader", CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	_, err = sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "up/ok/#", QoS: 1}}})
	require.NoError(t, err)

	recs := []bridge.Record{
		{Topic: "up/ok/1", Value: []byte("a"), Headers: []bridge.Header{{Key: "k", Value: []byte("v")}}},
		{Topic: "up/denied", Value: []byte("b")},
		{Topic: "up/ok/2", Value: []byte("c")},
	}
	err = l.Send(ctx, recs)
	var be *bridge.BatchError
	require.ErrorAs(t, err, &be)
	require.NoError(t, be.Errs[0])
	require.True(t, bridge.IsPermanent(be.Errs[1]), "an ACL deny is permanent: %v", be.Errs[1])
	require.NoError(t, be.Errs[2])
	for i, want := range []string{"a", "c"} {
		select {
		case p := <-got:
			require.Equal(t, want, string(p.Payload))
			if i == 0 {
				require.Equal(t, "v", p.Properties.User.Get("k"))
			}
		case <-time.After(30 * time.Second):
			t.Fatal("record not forwarded")
		}
	}
	_ = sub.Disconnect(&paho.Disconnect{})

	stop()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-states:
			if err != nil {
				require.Contains(t, err.Error(), addr)
				return
			}
		case <-deadline:
			t.Fatal("the lost connection was not reported")
		}
	}
}
