// Package registry is the device registry: devices (AWS IoT's things)
// with an id that is their MQTT client id, attributes, groups (tags that
// jobs target), an enabled flag and per-device credentials (a bcrypt
// password hash or a client certificate's SHA-256 fingerprint); create,
// read, update, delete, list with filters and paging, and bulk import
// from CSV or JSON lines.
//
// Registry.Authenticator plugs the credentials into the hub's
// authentication chain ("devices" in auth.chain). The Registry is also a
// broker event handler that records each device's connection (connected,
// node, last seen), and it publishes AWS IoT's registry events on
// $aws/events/thing/{id}/{created,updated,deleted} for rules.
//
// # Storage
//
// Records live in the hub's storage.Store: "dev/d/{id}" the device (JSON),
// "dev/s/{id}" its status, "dev/g/{group}/{id}" the group index. Device
// writes are synced; status writes are not.
//
// # Concurrency
//
// A Registry is safe for concurrent use: writes are serialised by one
// mutex (a device and its index entries change together), reads go to the
// store directly. Password checks run outside it, at most GOMAXPROCS at a
// time, and successful ones are remembered for Options.CacheTTL.
package registry
