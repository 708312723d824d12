// Package listener adapts transports to the broker: each listener accepts
// network connections of its kind and hands them to the broker as net.Conn
// values (TCP directly; WebSocket through an adapter that turns binary
// frames into a byte stream).
package listener
