// Command memattack replays the memory attacks of issue 14 (item 3)
// against a running MQTT broker and prints the broker's resident memory
// (VmRSS, and the peak VmHWM, from /proc/PID/status) before, while held
// and after:
//
//   - slow-subscribers: subscribers that never read their socket while a
//     publisher sends large QoS 0 messages to them;
//   - partial-packets: connected clients that each send all but the last
//     byte of a large PUBLISH and then wait;
//   - partial-connects: clients that never authenticate and send all but
//     the last byte of a large CONNECT.
//
// It speaks MQTT 3.1.1 through iothub's codec and works against any
// broker on loopback; docs/security.md ("What we tested") gives the
// commands and the figures.
package main
