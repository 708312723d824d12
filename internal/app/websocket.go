package app

import (
	"fmt"
	"net"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/listener"
)

// webListener is what a ws or wss listener is started from.
type webListener struct {
	name, address, path string
	origins, proxies    []string
	limits              broker.ListenerOptions
	accept              listener.AcceptOptions // TLS and PROXY protocol (wss)
}

// startWebSocket opens the configured WebSocket listeners.
func (a *App) startWebSocket() error {
	for _, l := range a.cfg.Listeners.WS {
		err := a.startWeb(webListener{
			name: l.Name, address: l.Address, path: l.Path, origins: l.AllowedOrigins, proxies: l.TrustedProxies,
			limits: broker.ListenerOptions{Name: l.Name, MaxConnections: l.MaxConnections, MaxPacketSize: l.MaxPacketSize},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// startWeb opens one ws or wss listener.
func (a *App) startWeb(w webListener) error {
	proxies, err := listener.ParseTrustedProxies(w.proxies)
	if err != nil {
		return fmt.Errorf("listener %s: %w", w.name, err)
	}
	if err := a.broker.SetListenerLimits(w.limits); err != nil {
		return fmt.Errorf("listener %s: %w", w.name, err)
	}
	raw, err := listenMQTT(w.address, w.accept.ProxyProtocol)
	if err != nil {
		return fmt.Errorf("listener %s: %w", w.name, err)
	}
	w.accept.Name, w.accept.Logger = w.name, a.log
	ln := listener.Wrap(raw, w.accept)
	limits := w.limits
	ws := listener.NewWebSocket(listener.WebSocketOptions{
		Name: w.name, Path: w.path, AllowedOrigins: w.origins, TrustedProxies: proxies, Logger: a.log,
	}, func(nc net.Conn, _ string) { a.broker.ServeConnWith(nc, limits) })
	a.runListener(func() error { return ws.Serve(ln) }, ws, ln)
	protocol := "mqtt-websocket"
	if w.accept.TLS != nil {
		protocol = "mqtt-websocket-tls"
	}
	a.log.Info("listening", "listener", w.name, "protocol", protocol, "address", raw.Addr().String(), "path", w.path,
		"trusted_proxies", len(w.proxies), "proxy_protocol", w.accept.ProxyProtocol)
	return nil
}
