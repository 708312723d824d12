// Package thing holds what the device services share about things (a
// thing is a device; its name is its MQTT client id): the reserved
// "$aws/things/{thing}/…" topic layout AWS IoT uses, name validation, and
// the small interface through which the services publish into the hub.
//
// It is a leaf: it imports only msg. Everything in it is safe for
// concurrent use.
package thing
