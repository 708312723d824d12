package broker_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// recordingListener hands the test every connection it accepts.
type recordingListener struct {
	net.Listener
	conns chan net.Conn
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.conns <- c
	}
	return c, err //nolint:wrapcheck // the listener's own error, as net.Listener returns it
}

// The hub's listeners accept without TCP keep-alive probes (internal/app:
// listenMQTT); a client with keep alive 0, which nothing else would find
// gone, gets them once its CONNECT is read, and one with a keep alive
// does not.
func TestKeepAlive_zeroTurnsTCPProbesOn(t *testing.T) {
	t.Parallel()
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rl := recordingListener{Listener: ln, conns: make(chan net.Conn, 4)}
	// The test reads the option through the net.Conn it recorded: a
	// parked connection keeps it (released, it would be closed).
	testutil.ServeBroker(t, func(o *broker.Options) { o.KeepParkedSockets = true }, rl, "tcp")
	addr := ln.Addr().String()
	tests := []struct {
		name      string
		keepAlive uint16
		want      int
	}{
		{"keep alive 0: probes on", 0, 1},
		{"keep alive 30: none", 30, 0},
	}
	for _, tt := range tests {
		connectRaw(t, addr, tt.name, func(cp *packet.Connect) { cp.KeepAlive = tt.keepAlive })
		select {
		case c := <-rl.conns:
			require.Equal(t, tt.want, testutil.SoKeepAlive(t, c), tt.name)
		case <-time.After(10 * time.Second):
			t.Fatal("no connection accepted")
		}
	}
}
