package integration

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"
)

// TestShutdown_sigterm checks that SIGTERM stops the hub cleanly and that a
// connected v5 client is told why: DISCONNECT 0x8B (Server shutting down).
func TestShutdown_sigterm(t *testing.T) {
	t.Parallel()
	h := startHub(t, nil)
	nc, err := net.DialTimeout("tcp", h.mqtt, 5*time.Second)
	require.NoError(t, err)
	discs := make(chan *paho.Disconnect, 1)
	c := paho.NewClient(paho.ClientConfig{
		Conn:               nc,
		OnServerDisconnect: func(d *paho.Disconnect) { discs <- d },
		OnClientError:      func(error) {},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Connect(ctx, &paho.Connect{ClientID: "shutdown-watcher", CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)

	require.NoError(t, h.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case d := <-discs:
		require.Equal(t, byte(0x8B), d.ReasonCode)
	case <-time.After(10 * time.Second):
		t.Fatal("no DISCONNECT from the hub within 10s of SIGTERM")
	}
	select {
	case <-h.exited:
		require.Equal(t, 0, h.cmd.ProcessState.ExitCode(), "clean exit status")
	case <-time.After(15 * time.Second):
		t.Fatal("hub did not exit after SIGTERM")
	}
	require.Contains(t, h.logs.String(), "iothub stopped")
}
