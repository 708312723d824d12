// Package device puts the device services together: the registry
// (internal/device/registry), the Device Shadow service
// (internal/device/shadow) and Jobs (internal/device/jobs), compatible
// with AWS IoT's reserved topics so that devices running the AWS IoT device
// SDKs work unchanged against iothub (docs/devices.md).
//
// Dispatcher is the broker's TopicHandler for "$aws/things/": it claims
// the request topics of the services and hands each request to its
// service. ThingACL is the authorization of the reserved "$aws/" topics:
// the configured rules first, then a thing may use its own
// "$aws/things/{client id}/…" topics and nobody else may.
//
// Everything here is safe for concurrent use; the dispatcher only parses
// the topic and queues (the services own their goroutines).
package device
