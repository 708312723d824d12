package topic

import (
	"strings"
	"sync"
)

// Entry is one subscription held by a Trie: the subscriber's key (a client
// ID), the filter exactly as subscribed (including any "$share/{group}/"
// prefix) and the caller's value (for example the subscription options).
type Entry[V any] struct {
	// Key identifies the subscriber, normally the MQTT client ID.
	Key string
	// Filter is the topic filter as passed to Subscribe, so that
	// Unsubscribe(e.Filter, e.Key) removes the entry.
	Filter string
	// Value is the caller's data stored with the subscription.
	Value V
}

// Matches receives the result of Trie.Match. Reuse one Matches per goroutine
// so that matching does not allocate once its slices have grown.
type Matches[V any] struct {
	// Subs holds one entry per matching non-shared (filter, key) pair. A key
	// appears once for each of its filters that match, so callers that
	// deliver once per client must deduplicate (MQTT 5.0 section 4.7.2
	// lets a server deliver once, honouring the highest QoS).
	Subs []Entry[V]
	// Shared holds each matching share group once per distinct (group,
	// inner filter). Pick one member per group with Next or Random.
	Shared []*ShareGroup[V]
}

// Reset empties m, keeping the capacity of its slices. It zeroes the
// previously used elements so that the values they referenced can be
// collected.
func (m *Matches[V]) Reset() {
	clear(m.Subs)
	m.Subs = m.Subs[:0]
	clear(m.Shared)
	m.Shared = m.Shared[:0]
}

// Trie is a subscription index: topic filters, including "+" and "#"
// wildcards and "$share/{group}/{filter}" shared subscriptions, each holding
// the entries of the subscribers that hold them. The zero value is not
// usable; create one with NewTrie. A Trie is safe for concurrent use:
// Subscribe, Unsubscribe take the write lock, Match, Len and Walk take the
// read lock.
type Trie[V any] struct {
	mu    sync.RWMutex
	root  node[V]
	count int
}

// node is one level of a filter. Literal children live in children; the
// "+" and "#" children have their own pointers so that Match does not hash
// them.
type node[V any] struct {
	parent   *node[V]
	level    string // this node's level in parent: literal, "+" or "#"
	children map[string]*node[V]
	plus     *node[V]
	hash     *node[V]
	subs     []Entry[V]
	index    map[string]int // key → position in subs, once subs is long
	groups   []*ShareGroup[V]
}

// indexMin is the number of non-shared entries on one node above which a
// key index is kept, so that replacing or removing stays O(1) on busy
// filters while small nodes avoid the map.
const indexMin = 8

// NewTrie returns an empty Trie.
func NewTrie[V any]() *Trie[V] {
	return &Trie[V]{}
}

// Subscribe adds the entry of key under filter, or replaces its value if key
// already holds filter; isNew reports which. A "$share/{group}/{f}" filter
// adds key as a member of share group group on filter f. It returns an error
// from ValidateFilter, and changes nothing, for an invalid filter. The key
// may be any string, including "".
func (t *Trie[V]) Subscribe(filter, key string, v V) (isNew bool, err error) {
	if err := ValidateFilter(filter); err != nil {
		return false, err
	}
	// Copy the strings the trie keeps, so that it never pins a larger buffer
	// that the caller's strings may have been sliced from.
	filter, key = strings.Clone(filter), strings.Clone(key)
	group, inner := splitFilter(filter)
	e := Entry[V]{Key: key, Filter: filter, Value: v}

	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.root.descend(inner)
	if group == "" {
		isNew = n.put(e)
	} else {
		isNew = n.group(group, inner, true).put(e)
	}
	if isNew {
		t.count++
	}
	return isNew, nil
}

// Unsubscribe removes the entry of key under filter (shared or not) and
// prunes the nodes left empty. It reports whether there was such an entry;
// an invalid filter holds none.
func (t *Trie[V]) Unsubscribe(filter, key string) bool {
	if ValidateFilter(filter) != nil {
		return false
	}
	group, inner := splitFilter(filter)

	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.root.find(inner)
	if n == nil {
		return false
	}
	if group == "" {
		if !n.remove(key) {
			return false
		}
	} else {
		g := n.group(group, inner, false)
		if g == nil || !g.remove(key) {
			return false
		}
		if len(g.Members()) == 0 {
			n.dropGroup(g)
		}
	}
	t.count--
	n.prune()
	return true
}

// Match resets m and fills it with the subscriptions whose filters match
// the topic name, which should be valid (see ValidateName). It holds the
// read lock while it runs and does not allocate once m's slices have enough
// capacity. The entries are copies; the share groups are live and may
// change after Match returns (see ShareGroup).
func (t *Trie[V]) Match(topic string, m *Matches[V]) {
	m.Reset()
	t.mu.RLock()
	t.root.match(topic, true, true, isDollar(topic), m)
	t.mu.RUnlock()
}

// Len returns the number of subscriptions, counting every member of every
// share group.
func (t *Trie[V]) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.count
}

// Walk calls visit for every subscription, shared ones with their full
// "$share/{group}/{filter}" filter, in no particular order, until visit
// returns false. It copies the entries under the read lock and calls visit
// with no lock held, so visit may call back into the Trie; changes made
// meanwhile are not seen by the walk.
func (t *Trie[V]) Walk(visit func(filter, key string, v V) bool) {
	t.mu.RLock()
	all := make([]Entry[V], 0, t.count)
	all = t.root.collect(all)
	t.mu.RUnlock()
	for _, e := range all {
		if !visit(e.Filter, e.Key, e.Value) {
			return
		}
	}
}

// splitFilter returns the share group ("" for none) and the plain filter of
// a valid filter.
func splitFilter(filter string) (group, inner string) {
	if strings.HasPrefix(filter, SharePrefix) {
		group, inner, _ = SplitShare(filter)
		return group, inner
	}
	return "", filter
}

// match adds the subscriptions of n and of its descendants that match the
// remaining levels of a topic. rest holds those levels; more is false once
// every level has been consumed (rest == "" with more == true is one empty
// level). atRoot and dollar implement the '$' rule for leading wildcards.
func (n *node[V]) match(rest string, more, atRoot, dollar bool, m *Matches[V]) {
	wild := !atRoot || !dollar
	if n.hash != nil && wild {
		n.hash.add(m)
	}
	if !more {
		n.add(m)
		return
	}
	lvl, rest, more := cutLevel(rest)
	if c := n.children[lvl]; c != nil {
		c.match(rest, more, false, dollar, m)
	}
	if n.plus != nil && wild {
		n.plus.match(rest, more, false, dollar, m)
	}
}

// add appends the entries and share groups held by n itself.
func (n *node[V]) add(m *Matches[V]) {
	m.Subs = append(m.Subs, n.subs...)
	m.Shared = append(m.Shared, n.groups...)
}

// descend returns the node for a plain filter, creating missing nodes.
func (n *node[V]) descend(filter string) *node[V] {
	for more := true; more; {
		var lvl string
		lvl, filter, more = cutLevel(filter)
		c := n.child(lvl)
		if c == nil {
			c = &node[V]{parent: n, level: lvl}
			switch lvl {
			case "+":
				n.plus = c
			case "#":
				n.hash = c
			default:
				if n.children == nil {
					n.children = make(map[string]*node[V])
				}
				n.children[lvl] = c
			}
		}
		n = c
	}
	return n
}

// find returns the node for a plain filter, or nil if there is none.
func (n *node[V]) find(filter string) *node[V] {
	for more := true; more && n != nil; {
		var lvl string
		lvl, filter, more = cutLevel(filter)
		n = n.child(lvl)
	}
	return n
}

// child returns the child of n for one filter level.
func (n *node[V]) child(lvl string) *node[V] {
	switch lvl {
	case "+":
		return n.plus
	case "#":
		return n.hash
	default:
		return n.children[lvl]
	}
}

// prune detaches n and then its ancestors while they hold nothing.
func (n *node[V]) prune() {
	for n.parent != nil && n.empty() {
		p := n.parent
		switch n.level {
		case "+":
			p.plus = nil
		case "#":
			p.hash = nil
		default:
			delete(p.children, n.level)
			if len(p.children) == 0 {
				p.children = nil
			}
		}
		n.parent = nil
		n = p
	}
}

func (n *node[V]) empty() bool {
	return len(n.subs) == 0 && len(n.groups) == 0 && len(n.children) == 0 &&
		n.plus == nil && n.hash == nil
}

// indexOf returns the position of key in n.subs, or -1.
func (n *node[V]) indexOf(key string) int {
	if n.index != nil {
		if i, ok := n.index[key]; ok {
			return i
		}
		return -1
	}
	for i := range n.subs {
		if n.subs[i].Key == key {
			return i
		}
	}
	return -1
}

// put adds or replaces e and reports whether it was added.
func (n *node[V]) put(e Entry[V]) bool {
	if i := n.indexOf(e.Key); i >= 0 {
		n.subs[i] = e
		return false
	}
	n.subs = append(n.subs, e)
	switch {
	case n.index != nil:
		n.index[e.Key] = len(n.subs) - 1
	case len(n.subs) > indexMin:
		n.index = make(map[string]int, len(n.subs))
		for i := range n.subs {
			n.index[n.subs[i].Key] = i
		}
	}
	return true
}

// remove deletes the entry of key, moving the last entry into its place.
func (n *node[V]) remove(key string) bool {
	i := n.indexOf(key)
	if i < 0 {
		return false
	}
	last := len(n.subs) - 1
	if i != last {
		n.subs[i] = n.subs[last]
		if n.index != nil {
			n.index[n.subs[i].Key] = i
		}
	}
	n.subs[last] = Entry[V]{}
	n.subs = n.subs[:last]
	if n.index != nil {
		delete(n.index, key)
	}
	if last == 0 {
		n.subs, n.index = nil, nil
	}
	return true
}

// group returns the share group name on n, creating it if create is set.
func (n *node[V]) group(name, filter string, create bool) *ShareGroup[V] {
	for _, g := range n.groups {
		if g.name == name {
			return g
		}
	}
	if !create {
		return nil
	}
	g := &ShareGroup[V]{name: name, filter: filter}
	n.groups = append(n.groups, g)
	return g
}

// dropGroup removes an emptied group from n. The group value stays valid
// for holders of the pointer and reports no members.
func (n *node[V]) dropGroup(g *ShareGroup[V]) {
	for i, x := range n.groups {
		if x == g {
			last := len(n.groups) - 1
			n.groups[i] = n.groups[last]
			n.groups[last] = nil
			n.groups = n.groups[:last]
			break
		}
	}
	if len(n.groups) == 0 {
		n.groups = nil
	}
}

// collect appends every entry held in n's subtree to all.
func (n *node[V]) collect(all []Entry[V]) []Entry[V] {
	all = append(all, n.subs...)
	for _, g := range n.groups {
		all = append(all, g.Members()...)
	}
	for _, c := range n.children {
		all = c.collect(all)
	}
	if n.plus != nil {
		all = n.plus.collect(all)
	}
	if n.hash != nil {
		all = n.hash.collect(all)
	}
	return all
}
