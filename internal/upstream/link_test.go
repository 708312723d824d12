package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/packets"
	"github.com/stretchr/testify/require"
)

// TestLink_dialKeepsPacketsWhole: packets written at once by several
// goroutines (as paho does: acks, pings, subscribe, publishes) arrive
// whole over TLS and WebSocket, whose connections cannot write a
// packet's header and body in one call.
func TestLink_dialKeepsPacketsWhole(t *testing.T) {
	tlsServer := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsServer.Close)
	clientTLS := tlsServer.Client().Transport.(*http.Transport).TLSClientConfig

	for _, tc := range []struct {
		name  string
		serve func(t *testing.T, got chan<- net.Conn) string // returns the URL
	}{
		{"ws", func(t *testing.T, got chan<- net.Conn) string {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"mqtt"}})
				if err != nil {
					return
				}
				c.SetReadLimit(-1)
				nc := websocket.NetConn(context.Background(), c, websocket.MessageBinary)
				got <- nc // the hijacked connection outlives the handler
			}))
			t.Cleanup(srv.Close)
			return "ws://" + srv.Listener.Addr().String() + "/mqtt"
		}},
		{"mqtts", func(t *testing.T, got chan<- net.Conn) string {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: tlsServer.TLS.Certificates, MinVersion: tls.VersionTLS12})
			require.NoError(t, err)
			t.Cleanup(func() { _ = ln.Close() })
			go func() {
				if c, err := ln.Accept(); err == nil && c.(*tls.Conn).Handshake() == nil {
					got <- c
				}
			}()
			return "mqtts://" + ln.Addr().String()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			accepted := make(chan net.Conn, 1)
			u, err := url.Parse(tc.serve(t, accepted))
			require.NoError(t, err)
			l := NewLink(LinkOptions{URL: u, TLS: clientTLS})
			t.Cleanup(l.cancel)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := l.dial(ctx)
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close() })
			var server net.Conn
			select {
			case server = <-accepted:
			case <-ctx.Done():
				t.Fatal("the server never saw the connection")
			}

			const writers, each = 8, 100
			read := make(chan error, 1)
			go func() {
				read <- readPublishes(server, writers*each)
				_, _ = io.Copy(io.Discard, server) // answers the client's close
			}()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						p := packets.NewControlPacket(packets.PUBLISH)
						p.Content.(*packets.Publish).Topic = fmt.Sprintf("w/%d/%d", w, i)
						p.Content.(*packets.Publish).Payload = bytes.Repeat([]byte{byte(w)}, 200)
						if _, err := p.WriteTo(conn); err != nil {
							return
						}
					}
				}()
			}
			wg.Wait()
			require.NoError(t, <-read)
		})
	}
}

// readPublishes reads n PUBLISH packets and checks each payload is its
// writer's.
func readPublishes(c net.Conn, n int) error {
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i := range n {
		cp, err := packets.ReadPacket(c)
		if err != nil {
			return fmt.Errorf("packet %d: %w", i, err)
		}
		p, ok := cp.Content.(*packets.Publish)
		if !ok {
			return fmt.Errorf("packet %d: %s, not a PUBLISH", i, cp.PacketType())
		}
		var w, seq int
		if _, err := fmt.Sscanf(p.Topic, "w/%d/%d", &w, &seq); err != nil || !bytes.Equal(p.Payload, bytes.Repeat([]byte{byte(w)}, 200)) {
			return fmt.Errorf("packet %d: topic %q with a payload not its own", i, p.Topic)
		}
	}
	return nil
}
