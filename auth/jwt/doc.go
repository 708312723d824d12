// Package jwt is the JWT authenticator: a device sends a JSON Web Token as
// its MQTT password, signed with HS256 (a shared secret), RS256 or ES256
// (a public key in a PEM file, or the keys of a JWKS file). The signature,
// exp and nbf are checked; a claim can be required to equal the client id
// or the username; ACL rules may travel in a claim.
//
// A password that is not shaped like a JWT (three dot-separated parts) is
// not this authenticator's business: it answers NoOpinion, so a user store
// can follow it in the chain. A token that is shaped like one but fails a
// check is denied (bad username or password).
//
// An Authenticator is safe for concurrent use. Key files are read at New
// and again when their modification time changes (checked at most once a
// second), so keys can be rotated without a restart.
package jwt
