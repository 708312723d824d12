package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// ConnHandler receives each accepted connection; it must return promptly
// (the broker's ServeConn starts its own goroutine).
type ConnHandler func(nc net.Conn, listener string)

// WebSocketOptions configures a WebSocket listener.
type WebSocketOptions struct {
	// Name labels the listener in logs and events.
	Name string
	// Path is the HTTP path that upgrades to MQTT ("/mqtt").
	Path string
	// AllowedOrigins lists Origin host patterns accepted (empty: any).
	AllowedOrigins []string
	// TrustedProxies are the peers whose X-Forwarded-For header gives the
	// client's address (zero value: none).
	TrustedProxies TrustedProxies
	// Logger receives the listener's logs.
	Logger *slog.Logger
}

// WebSocket serves MQTT over WebSocket: binary frames carry the MQTT byte
// stream, so a packet split across frames and several packets in one frame
// both work. Subprotocols "mqtt" (3.1.1 and 5.0) and "mqttv3.1" are offered.
type WebSocket struct {
	opts   WebSocketOptions
	handle ConnHandler
	srv    *http.Server
}

// NewWebSocket returns a WebSocket listener handing connections to handle.
func NewWebSocket(opts WebSocketOptions, handle ConnHandler) *WebSocket {
	w := &WebSocket{opts: opts, handle: handle}
	mux := http.NewServeMux()
	mux.HandleFunc(opts.Path, w.upgrade)
	w.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, nc net.Conn) context.Context {
			if c, ok := nc.(*Conn); ok {
				return context.WithValue(ctx, connKey{}, c)
			}
			return ctx
		},
	}
	return w
}

// connKey is the request context key of the prepared *Conn (WSS: TLS
// handshake done by Wrap, identity taken).
type connKey struct{}

// Serve accepts on ln until Close; it returns nil after Close. For WSS, ln
// is a listener returned by Wrap with TLS set: the WebSocket then sees the
// TLS state and the PROXY protocol address Wrap recorded.
func (w *WebSocket) Serve(ln net.Listener) error {
	err := w.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("websocket listener %s: %w", w.opts.Name, err)
}

// Close stops accepting; upgraded connections belong to the broker and are
// not affected.
func (w *WebSocket) Close() error {
	return w.srv.Close()
}

// upgrade turns an HTTP request into an MQTT connection. A request without
// the upgrade headers gets 426 Upgrade Required (from the websocket library),
// one from an origin not allowed gets 403.
func (w *WebSocket) upgrade(rw http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(rw, r, &websocket.AcceptOptions{
		Subprotocols:       []string{"mqtt", "mqttv3.1"},
		OriginPatterns:     w.opts.AllowedOrigins,
		InsecureSkipVerify: len(w.opts.AllowedOrigins) == 0,
	})
	if err != nil {
		w.opts.Logger.Debug("websocket upgrade refused", "listener", w.opts.Name, "remote", r.RemoteAddr, "error", err)
		return
	}
	c.SetReadLimit(-1) // the broker enforces its own maximum packet size
	nc := websocket.NetConn(context.Background(), c, websocket.MessageBinary)
	out := &Conn{Conn: nc, remote: w.opts.TrustedProxies.ClientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))}
	if under, ok := r.Context().Value(connKey{}).(*Conn); ok {
		out.certUsername, out.certClientID = under.CertIdentity()
		out.certFingerprint = under.certFingerprint
	}
	w.handle(out, w.opts.Name)
}
