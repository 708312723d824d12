package topic

import (
	"math/rand/v2"
	"slices"
	"sync/atomic"
)

// ShareGroup is the set of members of one shared subscription
// "$share/{name}/{filter}" (MQTT 5.0 section 4.8.2): each message matching
// the filter goes to one member. Trie.Match returns the live group; its
// methods are safe for concurrent use without any Trie lock. The Trie
// replaces the member slice on every change and never writes to a slice it
// has published, so a slice returned by Members stays valid and unchanged.
//
// When its last member leaves, the group is detached from the Trie and
// reports no members from then on; a later Subscribe to the same share
// creates a new ShareGroup. The group knows nothing of whether a member is
// connected: a caller that must skip offline members tries Next up to
// len(Members()) times.
type ShareGroup[V any] struct {
	name    string
	filter  string
	members atomic.Pointer[[]Entry[V]]
	next    atomic.Uint64
	index   map[string]int // key → position in members; guarded by the Trie's lock
}

// Name returns the share name, the {name} of "$share/{name}/{filter}".
func (g *ShareGroup[V]) Name() string { return g.name }

// Filter returns the plain topic filter of the group, without the
// "$share/{name}/" prefix.
func (g *ShareGroup[V]) Filter() string { return g.filter }

// Members returns a snapshot of the members, each Entry carrying the full
// "$share/..." filter. The caller must not modify the slice. A group whose
// last member has left returns an empty snapshot.
func (g *ShareGroup[V]) Members() []Entry[V] {
	if p := g.members.Load(); p != nil {
		return *p
	}
	return nil
}

// Next returns the members in turn (round robin over the current snapshot,
// driven by one atomic counter shared by all callers), or false if the group
// has no members. When members join or leave, the rotation continues from
// the counter's position over the new snapshot.
func (g *ShareGroup[V]) Next() (Entry[V], bool) {
	ms := g.Members()
	if len(ms) == 0 {
		return Entry[V]{}, false
	}
	i := (g.next.Add(1) - 1) % uint64(len(ms))
	return ms[i], true
}

// Random returns a uniformly chosen member, or false if the group has no
// members.
func (g *ShareGroup[V]) Random() (Entry[V], bool) {
	ms := g.Members()
	if len(ms) == 0 {
		return Entry[V]{}, false
	}
	return ms[rand.IntN(len(ms))], true //nolint:gosec // load spreading, not a secret
}

// put adds or replaces the member e.Key and reports whether it was added.
// The caller holds the Trie's write lock.
func (g *ShareGroup[V]) put(e Entry[V]) bool {
	old := g.Members()
	if i, ok := g.index[e.Key]; ok {
		ms := slices.Clone(old)
		ms[i] = e
		g.members.Store(&ms)
		return false
	}
	ms := make([]Entry[V], len(old), len(old)+1)
	copy(ms, old)
	ms = append(ms, e)
	if g.index == nil {
		g.index = make(map[string]int)
	}
	g.index[e.Key] = len(ms) - 1
	g.members.Store(&ms)
	return true
}

// remove deletes the member key, keeping the order of the others, and
// reports whether it was there. The caller holds the Trie's write lock.
func (g *ShareGroup[V]) remove(key string) bool {
	i, ok := g.index[key]
	if !ok {
		return false
	}
	old := g.Members()
	ms := make([]Entry[V], 0, len(old)-1)
	ms = append(ms, old[:i]...)
	ms = append(ms, old[i+1:]...)
	delete(g.index, key)
	for j := i; j < len(ms); j++ {
		g.index[ms[j].Key] = j
	}
	g.members.Store(&ms)
	return true
}
