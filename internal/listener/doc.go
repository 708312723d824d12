// Package listener adapts transports to the broker: each listener accepts
// network connections of its kind and hands them to the broker as net.Conn
// values.
//
//   - TCP: directly, or through Wrap when the listener expects a PROXY
//     protocol v1/v2 header (parsed by github.com/pires/go-proxyproto).
//   - TLS: Wrap runs the handshake with a TLSConfig, whose certificate, CA
//     bundle and policies Reload swaps atomically for new handshakes, and
//     takes the client's identity from its verified certificate
//     (IdentityFrom, IdentityAs).
//   - WebSocket (ws, and wss over a Wrap'ped TLS listener): an HTTP server
//     that upgrades requests on one path (gorilla/websocket) and turns
//     binary frames into a byte stream itself (wsConn: no buffer above the
//     socket, so idle WebSocket connections park like TCP ones);
//     X-Forwarded-For is believed from TrustedProxies only.
//
// # Lifecycle and goroutines
//
// Wrap starts one accept goroutine; each accepted connection is prepared
// (PROXY header, TLS handshake) on its own goroutine bounded by
// HandshakeTimeout and only then returned by Accept, so a slow client
// never holds up the others. Close stops accepting and abandons the
// connections being prepared; connections already accepted belong to the
// broker.
//
// # What the broker sees
//
// Prepared connections are *Conn values: RemoteAddr is the client's address
// (from the PROXY header or a trusted X-Forwarded-For, else the socket
// peer), and CertIdentity implements broker.CertIdentifier.
package listener
