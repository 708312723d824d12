package api

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

// Bounds of the topic tree's rate tracking.
const (
	maxTopicNodes  = 20000           // tree nodes tracked; deeper or newer topics count at their deepest tracked level
	maxTopicDepth  = 8               // levels tracked
	topicIdleAfter = 2 * time.Minute // tracking stops this long after the last GET /api/v1/topics
	topicRateEvery = 5 * time.Second
)

// topicRates counts messages per topic level while someone looks at the
// topic tree: it taps "#" on the first GET /api/v1/topics and stops
// (costing nothing again) topicIdleAfter after the last one.
type topicRates struct {
	mu       sync.RWMutex
	nodes    map[string]*topicNode // by topic prefix ("devices", "devices/lock-1")
	capped   bool                  // maxTopicNodes reached
	cancel   func()                // the tap; nil: not tracking
	since    time.Time
	lastSeen time.Time
	lastRate time.Time
}

type topicNode struct {
	count    atomic.Uint64
	children atomic.Int64
	prev     uint64  // count at the last rate computation (under topicRates.mu)
	rate     float64 // messages per second over the last topicRateEvery
}

func newTopicRates() *topicRates { return &topicRates{nodes: map[string]*topicNode{}} }

// count adds m to the nodes of each level of its topic (runs on the
// publishing goroutine: no allocation once the nodes exist).
func (t *topicRates) count(m *msg.Message) {
	name := m.Topic
	end, depth := 0, 0
	parent := (*topicNode)(nil)
	for end < len(name) && depth < maxTopicDepth {
		i := strings.IndexByte(name[end:], '/')
		if i < 0 {
			end = len(name)
		} else {
			end += i
		}
		n := t.node(name[:end], parent)
		if n == nil {
			break
		}
		n.count.Add(1)
		parent = n
		depth++
		end++ // past the '/'
	}
}

// node returns the node of prefix, creating it (under parent) unless the
// tree is full.
func (t *topicRates) node(prefix string, parent *topicNode) *topicNode {
	t.mu.RLock()
	n := t.nodes[prefix]
	t.mu.RUnlock()
	if n != nil {
		return n
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if n = t.nodes[prefix]; n != nil {
		return n
	}
	if len(t.nodes) >= maxTopicNodes {
		t.capped = true
		return nil
	}
	n = &topicNode{}
	t.nodes[strings.Clone(prefix)] = n
	if parent != nil {
		parent.children.Add(1)
	}
	return n
}

// touch starts tracking if needed, updates the rates when due, and stops
// tracking after topicIdleAfter without a request.
func (t *topicRates) touch(tapper Tapper, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastSeen = now
	if t.cancel == nil {
		cancel, err := tapper.Tap("#", t.count)
		if err != nil {
			return err
		}
		t.cancel, t.since, t.lastRate = cancel, now, now
		clear(t.nodes)
		t.capped = false
		time.AfterFunc(topicIdleAfter, t.stopIfIdle)
		return nil
	}
	if dt := now.Sub(t.lastRate).Seconds(); dt >= topicRateEvery.Seconds() {
		for _, n := range t.nodes {
			c := n.count.Load()
			n.rate, n.prev = float64(c-n.prev)/dt, c
		}
		t.lastRate = now
	}
	return nil
}

// stopIfIdle removes the tap when nobody asked for the tree lately.
func (t *topicRates) stopIfIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cancel == nil {
		return
	}
	if idle := time.Since(t.lastSeen); idle < topicIdleAfter {
		time.AfterFunc(topicIdleAfter-idle, t.stopIfIdle)
		return
	}
	t.cancel()
	t.cancel = nil
	clear(t.nodes)
}

// topicJSON is one node of the topic tree.
type topicJSON struct {
	Topic    string  `json:"topic"`
	Name     string  `json:"name"`
	Messages uint64  `json:"messages"`
	Rate     float64 `json:"rate"`
	Children int64   `json:"children"`
}

// topicTreeAnswer is the answer of GET /api/v1/topics.
type topicTreeAnswer struct {
	Data []topicJSON `json:"data"`
	// Since is when counting began (the first request after an idle time).
	Since time.Time `json:"since"`
	// Capped says the tree reached its node limit: newer topics count at
	// their deepest tracked level.
	Capped bool `json:"capped"`
}

// topicTree answers GET /api/v1/topics?parent=devices: the levels under
// parent (the top level when empty) with the messages counted since
// tracking began and their rate, busiest first.
func (a *API) topicTree(w http.ResponseWriter, r *http.Request) error {
	parent := r.URL.Query().Get("parent")
	t := a.topics
	if err := t.touch(a.o.Broker, time.Now()); err != nil {
		return err
	}
	prefix := ""
	if parent != "" {
		prefix = parent + "/"
	}
	t.mu.RLock()
	out := topicTreeAnswer{Data: []topicJSON{}, Since: t.since.UTC(), Capped: t.capped}
	for k, n := range t.nodes {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || strings.Contains(rest, "/") {
			continue
		}
		out.Data = append(out.Data, topicJSON{Topic: k, Name: rest, Messages: n.count.Load(), Rate: n.rate, Children: n.children.Load()})
	}
	t.mu.RUnlock()
	slices.SortFunc(out.Data, func(x, y topicJSON) int {
		return cmp.Or(cmp.Compare(y.Messages, x.Messages), strings.Compare(x.Topic, y.Topic))
	})
	if len(out.Data) > maxLimit {
		out.Data = out.Data[:maxLimit]
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
