// Package testutil holds the helpers iothub's tests share: start a broker on
// a loopback port, wait for a condition, dial raw TCP, call an HTTP API.
package testutil
