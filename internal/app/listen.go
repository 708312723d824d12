package app

import (
	"context"
	"net"
)

// listenMQTT opens an MQTT listener: TCP, TLS, WebSocket or WSS. Its connections
// get no TCP keep-alive probes from Go's default (four setsockopt calls per
// accepted connection): a client's MQTT keep alive detects a dead peer,
// and the broker turns the probes on for a client that sets keep alive 0
// (broker: conn.probeIfSilent). Behind the PROXY protocol the broker cannot
// reach the socket, so those listeners keep Go's default.
func listenMQTT(address string, proxyProtocol bool) (net.Listener, error) {
	var lc net.ListenConfig
	if !proxyProtocol {
		lc.KeepAlive = -1
	}
	return lc.Listen(context.Background(), "tcp", address)
}
