// Package pgtest starts a private PostgreSQL cluster for tests: initdb in
// a temporary directory owned by the postgres user, the server on a free
// loopback port, stopped (by its PID) at the test's cleanup. It needs
// Debian's postgresql package (scripts/test-deps.sh) and fails the test
// loudly when it is missing.
package pgtest
