// Package topic holds the MQTT topic rules and the two indexes the broker
// routes with:
//
//   - ValidateName, ValidateFilter and SplitShare check topic names and
//     filters (MQTT 3.1.1 and 5.0 section 4.7), including the shared
//     subscription form "$share/{group}/{filter}";
//   - Match tells whether one filter matches one topic name, with no
//     allocation; it is the reference the indexes are tested against;
//   - Trie is the subscription index: Subscribe and Unsubscribe by filter
//     and subscriber key, Match a published topic name to the entries and
//     share groups it reaches;
//   - Retained is the retained-message index: one value per topic name,
//     matched against the filter of a new subscription.
//
// The package imports nothing from the rest of iothub and knows nothing of
// sessions or delivery: values are the caller's, stored and returned as
// given.
//
// # Matching rules
//
// A "+" level matches exactly one level, possibly empty. A "#" level, always
// last, matches its parent level and every level below it, so "a/#"
// matches "a". A topic name beginning with '$' (such as "$SYS/uptime") is
// not matched by a filter whose first level is "+" or "#". Levels are
// compared byte for byte; an empty level is a level ("a//b" has three).
//
// # Concurrency
//
// Trie and Retained are safe for concurrent use. Each holds one
// sync.RWMutex: writers (Subscribe, Unsubscribe, Set, Delete) take it
// exclusively, readers (Match, Get, Len, Walk) share it. Neither calls code
// of the caller while holding its lock: Trie.Match fills a caller-owned
// Matches, and the Walk and Retained.Match methods copy what they found
// under the lock and call visit after releasing it, so visit may call back
// into the same index. There is no lock ordering between a Trie and a
// Retained; the package never holds two locks at once.
//
// A ShareGroup returned by Trie.Match is live: the Trie publishes a new
// member slice (copy on write) on every change and never writes to one it
// has published, so ShareGroup methods and the slice from Members are safe
// to use without any lock. A group whose last member left is detached from
// the Trie and reports no members.
//
// Entries returned in Matches are copies: V is copied by value, so a
// pointer V shares its target with the Trie and the caller must not mutate
// it without its own synchronisation.
package topic
