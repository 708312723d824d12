package app

import (
	"fmt"
	"net"

	"github.com/iothub-dev/iothub/internal/listener"
)

// startWebSocket opens the configured WebSocket listeners.
func (a *App) startWebSocket() error {
	for _, l := range a.cfg.Listeners.WS {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		ws := listener.NewWebSocket(listener.WebSocketOptions{
			Name: l.Name, Path: l.Path, AllowedOrigins: l.AllowedOrigins, Logger: a.log,
		}, a.broker.ServeConn)
		a.mu.Lock()
		a.listeners = append(a.listeners, ws)
		a.mu.Unlock()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := ws.Serve(ln); err != nil {
				a.errc <- err
			}
		}()
		a.log.Info("listening", "listener", l.Name, "protocol", "mqtt-websocket", "address", ln.Addr().String(), "path", l.Path)
	}
	return nil
}
