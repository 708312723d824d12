// Package memstore is a storage.Store held in memory: what the hub uses
// for device registry, shadow and job records when the embedded store is
// disabled (storage.enabled: false), and a fast store for tests. Nothing
// survives the process.
//
// A Store is safe for concurrent use; one RWMutex guards the map and the
// sorted key list.
package memstore
