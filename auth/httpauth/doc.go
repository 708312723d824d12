// Package httpauth is the HTTP authentication service client: for each
// connecting device it POSTs the client id, username, password, peer
// address and protocol as JSON to a configured URL and lets the answer
// decide.
//
// # Connections
//
// One source system ran out of ports (TIME_WAIT) because every device
// connect opened a new HTTP connection. Here requests go through PoolSize
// slots, each owning one keep-alive HTTP/1.1 connection: at most PoolSize
// requests are in flight and at most PoolSize connections are open at any
// time, and a connection is replaced only when it fails, the service
// closes it, it sat idle for 90 s, or RequestTimeout abandoned a request
// on it. Requests beyond PoolSize wait for a free slot, so a reconnect
// storm of 10,000 devices opens PoolSize connections. (HTTP proxies from
// the environment are not used.)
//
// A device waits at most Timeout for its answer (a free slot included);
// then it gets OnError. Its request is not cancelled: it keeps its slot
// and connection until the service answers (the answer is cached) or
// RequestTimeout passes. Cancelling would close the connection and the
// next request would open a new one, so a service that hangs would be
// sent a new connection per device (200 timed-out devices opened 114).
// While the service hangs, the hub therefore opens at most PoolSize
// connections per RequestTimeout, and devices beyond them fail fast.
//
// Answers are cached for CacheTTL, keyed by client id, username, a hash
// of the password and the peer's IP (not its port, which changes on every
// reconnect).
//
// # Protocol
//
// Request: POST, Content-Type application/json:
//
//	{"client_id":"lock-1","username":"u","password":"p","peer_addr":"192.0.2.7:50122",
//	 "peer_ip":"192.0.2.7","protocol":"mqtt","proto_ver":5,"listener":"tcp"}
//
// Answer: status 200 with {"result":"allow"|"deny"|"ignore",
// "is_superuser":false,"acl":["allow publish devices/%c/state"],
// "client_ids":["%u"]} (acl: optional rules in the one-line form;
// client_ids: optional client ids the user may use, auth.ClientIDPatterns
// with %u the username: another one is refused with Client Identifier not
// valid), or 204 (allow). Any other 2xx or
// 4xx status is a denial; a 5xx status, a timeout or an unreadable answer
// gets OnError (deny by default).
//
// An Authenticator is safe for concurrent use; Close releases idle
// connections.
package httpauth
