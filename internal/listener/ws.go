package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gorilla/websocket"
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
	// HTTPTimeout bounds how long a connection may stay before its
	// upgrade: reading the request headers, and idle between requests that
	// did not upgrade (0: 10 s). Nobody holds a socket here for longer
	// without becoming an MQTT connection, where the broker's CONNECT
	// timeout and connection limits take over.
	HTTPTimeout time.Duration
}

// maxUpgradeHeaderBytes bounds an upgrade request's headers (a browser's
// cookies included).
const maxUpgradeHeaderBytes = 32 << 10

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
	timeout := opts.HTTPTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	w.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: timeout,
		IdleTimeout:       timeout,
		MaxHeaderBytes:    maxUpgradeHeaderBytes,
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
// the upgrade headers gets 400 Bad Request (from the websocket library), one
// from an origin not allowed gets 403. The library does the handshake; the
// frames are read and written by wsConn, which holds no buffers while the
// connection is idle and lets the broker park it.
func (w *WebSocket) upgrade(rw http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{
		Subprotocols:    []string{"mqtt", "mqttv3.1"},
		CheckOrigin:     w.checkOrigin,
		ReadBufferSize:  minWSBuffer,
		WriteBufferSize: minWSBuffer,
	}
	c, err := up.Upgrade(rw, r, nil)
	if err != nil {
		w.opts.Logger.Debug("websocket upgrade refused", "listener", w.opts.Name, "remote", r.RemoteAddr, "error", err)
		return
	}
	// The library's reader holds nothing yet: it refuses early data. ws
	// is the one object the connection keeps here: frames, the client's
	// address and certificate.
	ws := &wsConn{Conn: c.UnderlyingConn()}
	if under, ok := r.Context().Value(connKey{}).(*Conn); ok && under.more != nil {
		// Its certificate (and proxy address, which ws would report
		// anyway through the Conn under it): read-only after the handshake.
		ws.more = under.more
	}
	if len(w.opts.TrustedProxies.prefixes) > 0 {
		// Without trusted proxies the client is the socket's peer, which
		// ws reports without a copy of its own.
		info := peerInfo{}
		if ws.more != nil {
			info = *ws.more // not under's own: its address stays its own
		}
		info.remote = w.opts.TrustedProxies.ClientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
		ws.more = &info
	}
	w.handle(ws, w.opts.Name)
}

// minWSBuffer is the smallest buffer the websocket library takes; its
// connection object is dropped after the handshake.
const minWSBuffer = 128

// checkOrigin admits a request without Origin, from the listener's own
// host, or from a host matching one of AllowedOrigins (path.Match patterns,
// case-insensitive); any origin when AllowedOrigins is empty.
func (w *WebSocket) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(w.opts.AllowedOrigins) == 0 {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range w.opts.AllowedOrigins {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}
