// Package storage is iothub's small persistence interface: an ordered
// key-value store with atomic write batches, prefix scans and an explicit
// durability choice per write. Everything the hub persists (sessions, their
// queues, retained messages) is written once, on top of this interface, by
// the broker's persistence layer; the embedded engine behind it is a
// detail.
//
// Implementations must be safe for concurrent use. Apply with sync=true
// returns only after the batch is on stable storage; concurrent synced
// batches may share one fsync (group commit), which is what makes
// per-message durability affordable.
package storage
