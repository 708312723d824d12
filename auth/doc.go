// Package auth is iothub's extension point for authentication and
// authorization, with the built-in pieces that need no outside service:
// the ACL (rules with %c/%u placeholders), the ban list with failed-login
// tracking, and the client-certificate authenticator. The user store
// (auth/users), JWT (auth/jwt) and the HTTP authentication service
// (auth/httpauth) live in subpackages. It imports nothing of iothub but
// mqtt/topic and mqtt/packet.
//
// # Authentication
//
// An Authenticator looks at a ConnectInfo (client id, username, password,
// peer address, listener, protocol version, verified certificate identity)
// and returns a Result: Allow with an Identity, Deny with an MQTT 5 reason
// code, or NoOpinion. AuthnChain runs authenticators in configured order:
//
//  1. A ban (BanList) on the client id, username or address denies at once
//     with Banned (0x8A), before any authenticator runs. Bans added at run
//     time are kept in the data directory's bans.json (LoadBanList); those
//     from the configuration and failed-login bans are not.
//  2. The first authenticator that answers Allow or Deny decides; NoOpinion
//     passes to the next.
//  3. When every authenticator passed (or none is configured), the client
//     is anonymous: allowed when AllowAnonymous is set, otherwise denied
//     with BadUsernameOrPassword when it sent credentials and NotAuthorized
//     when it sent none.
//  4. A denial with BadUsernameOrPassword, NotAuthorized or
//     ClientIdentifierNotValid counts as a failed login of the peer's IP
//     address (FailureTracker: too many in a window ban the address for a
//     while) and spends a token of its username and of its address in the
//     Throttle; a login whose username or address has none left is
//     refused (ConnectionRateExceeded) before any authenticator runs.
//  5. When the chain refuses a client, the authenticators that passed on
//     it and implement TimingEqualizer spend what a real check costs, so
//     that the time of a refusal does not tell which usernames exist.
//
// An Identity names who the authenticator vouched for (Principal) and so
// who owns the sessions the client creates (Owner): the broker lets no
// other identity resume or take them over. Each authenticator can bind
// identities to client ids (ClientIDPatterns: "%u", "lock-*"), refusing
// others with ClientIdentifierNotValid.
//
// # Authorization
//
// An Authorizer decides whether an Identity may publish to a topic name or
// subscribe to a topic filter: Allow, Deny or NoOpinion. AuthzChain asks
// each authorizer in order; any Deny wins, otherwise any Allow allows,
// otherwise the chain's Default applies. A superuser identity skips the
// chain. The ACL type is an Authorizer whose rules are tried in order, the
// first matching rule answering; it answers NoOpinion when none matches.
// IdentityRules applies the rules an authenticator attached to the
// identity (a JWT claim) the same way.
//
// Reading is decided per topic name. For a subscription filter,
// AuthzChain.FilterAccess says whether every topic it can match may be
// read (ReadAll), some (ReadSome: the broker checks each message) or none
// (ReadNone: the SUBSCRIBE is refused); authorizers that can analyse a
// filter implement FilterAuthorizer.
//
// # Concurrency
//
// Every Authenticator and Authorizer must be safe for concurrent use: the
// broker calls them from each connection's read goroutine, outside its own
// locks, so an authenticator may block (bcrypt, an HTTP request) for at
// most the context's deadline. The broker caches authorization decisions
// per connection; call its reload hook after changing rules.
package auth
