// Package packettest holds a table of MQTT packets, raw bytes next to the
// decoded value, shared by the codec tests and the broker tests. It is only
// imported by tests.
package packettest
