// Package bench is the load generator behind `iothub bench`. It speaks MQTT
// through iothub's own codec and works against any MQTT broker.
//
// Every run is bounded in count and time, and meant for loopback targets.
package bench
