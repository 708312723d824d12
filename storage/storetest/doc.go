// Package storetest is the contract test every storage.Store implementation
// passes, and the persistence benchmark that chose the embedded engine.
package storetest
