package topic

import (
	"strings"
	"sync"
)

// Retained is an index of retained messages keyed by topic name, stored as
// a tree of topic levels so that Match walks only the branches a filter can
// reach instead of scanning every topic. The zero value is not usable;
// create one with NewRetained. It is safe for concurrent use: Set and
// Delete take the write lock; Get, Len, Match and Walk take the read lock,
// and Match and Walk release it before calling visit.
//
// Retained stores what it is given: the MQTT rule that a retained PUBLISH
// with an empty payload deletes the topic's message is the caller's.
type Retained[V any] struct {
	mu    sync.RWMutex
	root  rnode[V]
	count int
}

// rnode is one topic level of a Retained tree.
type rnode[V any] struct {
	parent   *rnode[V]
	level    string
	children map[string]*rnode[V]
	topic    string // full topic name when set
	value    V
	set      bool
}

// retainedItem is a topic name and its value, as collected by
// Retained.Match and Retained.Walk before visiting.
type retainedItem[V any] struct {
	topic string
	value V
}

// NewRetained returns an empty Retained index.
func NewRetained[V any]() *Retained[V] {
	return &Retained[V]{}
}

// Set stores v as the retained value of topic, replacing any previous one.
// The topic should be a valid topic name (see ValidateName): a name with
// wildcard characters is stored literally and is reachable only through
// wildcards in Match.
func (r *Retained[V]) Set(topic string, v V) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := &r.root
	rest, more := topic, true
	for more {
		var lvl string
		lvl, rest, more = cutLevel(rest)
		c := n.children[lvl]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*rnode[V])
			}
			lvl = strings.Clone(lvl)
			c = &rnode[V]{parent: n, level: lvl}
			n.children[lvl] = c
		}
		n = c
	}
	if !n.set {
		n.topic = strings.Clone(topic)
		n.set = true
		r.count++
	}
	n.value = v
}

// Delete removes the retained value of topic, pruning the levels left
// empty, and reports whether there was one.
func (r *Retained[V]) Delete(topic string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.find(topic)
	if n == nil || !n.set {
		return false
	}
	var zero V
	n.value, n.topic, n.set = zero, "", false
	r.count--
	for n.parent != nil && !n.set && len(n.children) == 0 {
		p := n.parent
		delete(p.children, n.level)
		if len(p.children) == 0 {
			p.children = nil
		}
		n.parent = nil
		n = p
	}
	return true
}

// Get returns the retained value of topic, if any.
func (r *Retained[V]) Get(topic string) (V, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if n := r.find(topic); n != nil && n.set {
		return n.value, true
	}
	var zero V
	return zero, false
}

// Len returns the number of retained topics.
func (r *Retained[V]) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.count
}

// Match calls visit for every stored topic that the plain topic filter
// matches, under the rules of the package-level Match, until visit returns
// false. The order is unspecified. Match collects the matching topics under
// the read lock and calls visit with no lock held, so visit may call back
// into the index; changes made meanwhile are not seen.
//
// An invalid filter matches nothing, and so does a "$share/..." filter:
// MQTT 5.0 section 3.3.1.3 sends retained messages only when "a new
// Non-shared Subscription is made". A caller that wants them anyway passes
// the inner filter from SplitShare.
func (r *Retained[V]) Match(filter string, visit func(topic string, v V) bool) {
	if strings.HasPrefix(filter, SharePrefix) || validatePlainFilter(filter) != nil {
		return
	}
	r.mu.RLock()
	items := r.root.match(filter, true, nil)
	r.mu.RUnlock()
	visitAll(items, visit)
}

// Walk calls visit for every stored topic, in no particular order, until
// visit returns false. Like Match it calls visit with no lock held.
func (r *Retained[V]) Walk(visit func(topic string, v V) bool) {
	r.mu.RLock()
	items := make([]retainedItem[V], 0, r.count)
	items = r.root.collect(items, false)
	r.mu.RUnlock()
	visitAll(items, visit)
}

func visitAll[V any](items []retainedItem[V], visit func(topic string, v V) bool) {
	for _, it := range items {
		if !visit(it.topic, it.value) {
			return
		}
	}
}

// find returns the node of topic, or nil. The caller holds a lock.
func (r *Retained[V]) find(topic string) *rnode[V] {
	n := &r.root
	for rest, more := topic, true; more && n != nil; {
		var lvl string
		lvl, rest, more = cutLevel(rest)
		n = n.children[lvl]
	}
	return n
}

// match appends to items the stored topics below n that the remaining
// filter levels match; atRoot applies the '$' rule to leading wildcards.
func (n *rnode[V]) match(filter string, atRoot bool, items []retainedItem[V]) []retainedItem[V] {
	lvl, rest, more := cutLevel(filter)
	switch lvl {
	case "#":
		// "#" matches the parent level too ("a/#" matches "a"); the root is
		// never set.
		if n.set {
			items = append(items, retainedItem[V]{n.topic, n.value})
		}
		for l, c := range n.children {
			if !atRoot || !strings.HasPrefix(l, "$") {
				items = c.collect(items, true)
			}
		}
	case "+":
		for l, c := range n.children {
			if !atRoot || !strings.HasPrefix(l, "$") {
				items = c.matchRest(rest, more, items)
			}
		}
	default:
		if c := n.children[lvl]; c != nil {
			items = c.matchRest(rest, more, items)
		}
	}
	return items
}

// matchRest continues match at child n once one filter level is consumed.
func (n *rnode[V]) matchRest(rest string, more bool, items []retainedItem[V]) []retainedItem[V] {
	if !more {
		if n.set {
			items = append(items, retainedItem[V]{n.topic, n.value})
		}
		return items
	}
	return n.match(rest, false, items)
}

// collect appends every stored topic in n's subtree, n included if self.
func (n *rnode[V]) collect(items []retainedItem[V], self bool) []retainedItem[V] {
	if self && n.set {
		items = append(items, retainedItem[V]{n.topic, n.value})
	}
	for _, c := range n.children {
		items = c.collect(items, true)
	}
	return items
}
