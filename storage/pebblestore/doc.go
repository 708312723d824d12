// Package pebblestore implements storage.Store on cockroachdb/pebble, an
// LSM-tree engine whose commit pipeline groups concurrent synced batches
// into one WAL fsync. It is iothub's embedded store (see
// docs/persistence.md for the measurement behind the choice).
package pebblestore
