package listener_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// newBroker starts a broker (no listener) that records connected events.
func newBroker(t *testing.T) (*broker.Server, chan msg.Event) {
	t.Helper()
	opts := broker.Defaults()
	opts.SysInterval = 0
	opts.Logger = testutil.Logger(t)
	s, err := broker.New(opts)
	require.NoError(t, err)
	events := make(chan msg.Event, 100)
	s.AddEventHandler(broker.EventHandlerFunc(func(ev msg.Event) {
		if ev.Kind == msg.EventClientConnected {
			events <- ev
		}
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s, events
}

// serve serves ln (already wrapped) with broker s until the test ends.
func serve(t *testing.T, s *broker.Server, ln net.Listener, lo broker.ListenerOptions) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.ServeListener(ln, lo)
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
}

// waitEvent returns the next connected event.
func waitEvent(t *testing.T, events chan msg.Event) msg.Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no client connected within 10s")
		return msg.Event{}
	}
}

// pahoConnect runs MQTT 5 CONNECT over nc and returns the client.
func pahoConnect(t *testing.T, nc net.Conn, clientID, username string) *paho.Client {
	t.Helper()
	c := paho.NewClient(paho.ClientConfig{Conn: threadSafe(nc)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cp := &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true}
	if username != "" {
		cp.Username, cp.UsernameFlag = username, true
	}
	ack, err := c.Connect(ctx, cp)
	require.NoError(t, err)
	require.Equal(t, byte(0), ack.ReasonCode)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// threadSafe makes each of paho's packets one write: paho.golang writes a
// packet in pieces, from more than one goroutine (its pinger sends a
// PINGREQ right after CONNACK). Over TCP each packet is one writev; over
// TLS or a WebSocket the pieces are separate writes, and a PINGREQ landing
// between a SUBSCRIBE's pieces corrupts the stream (the hub rightly closes
// the connection as malformed; paho.golang issue #90).
func threadSafe(nc net.Conn) net.Conn { return packets.NewThreadSafeConn(nc) }
