// Package mqtt is the MQTT bridge of iothub: one client connection to a
// remote broker (another iothub, Mosquitto, EMQX) that carries both ways.
//
//   - As a bridge.Sink, it forwards records (rule outputs rendered on a
//     remote topic template such as edge/${node}/${topic}) to the remote
//     as QoS 1 PUBLISH packets, one after the other, and Send returns once
//     every PUBACK of the batch arrived. While the link is down Send fails
//     (retryable) and the shared bridge.Runner keeps the records in its
//     durable queue, in order.
//   - As a bridge.Source, it subscribes remote filters and publishes what
//     arrives locally (the command path down), acknowledging a remote
//     PUBLISH only after the hub took it (at least once).
//
// The connection is MQTT 5.0 (eclipse/paho.golang's autopaho): it
// reconnects with exponential backoff, keeps its session on the remote
// (clean start off, a session expiry) so that commands sent while the link
// is down are queued there, and supports TLS and credentials.
//
// # Loops
//
// Remote subscriptions set No Local, so the bridge never receives what it
// forwarded itself. Every forwarded message carries the user property
// MarkerKey (iothub-bridge) with this hub's node name; the forwarding side
// (internal/bridgemgr) skips a message carrying this hub's marker, any
// marked message unless multi-hop is on, and the messages this bridge
// published locally (Origin "bridge:<name>"). Two hubs bridged both ways
// therefore do not echo.
package mqtt
