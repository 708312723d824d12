// Package users is iothub's built-in user store: usernames with bcrypt
// password hashes, kept in a JSON file in the data directory (managed with
// `iothub users add|remove|list`) and optionally listed in the config file.
// The Store is an auth.Authenticator.
//
// # Cost
//
// bcrypt is slow on purpose (tens of milliseconds per check at the default
// cost). So that a reconnect storm of devices sharing a password does not
// burn the CPU, a successful check is remembered for CacheTTL as an HMAC of
// the password under a key made at start, and at most MaxConcurrent checks
// run at once; Authenticate holds no lock while hashing. That remembering
// and bounding is a PasswordChecker, which the device registry uses too.
//
// # Concurrency
//
// A Store is safe for concurrent use. The file is written atomically (a
// temporary file renamed over it), and a running hub notices a changed
// file within a second, so the CLI can edit users while the hub runs.
package users
