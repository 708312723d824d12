package broker

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// MaxTaps bounds the taps registered at once (Tap returns ErrTooManyTaps
// beyond it): each one costs a topic match per routed message.
const MaxTaps = 64

// ErrTooManyTaps is returned by Tap when MaxTaps taps are registered.
var ErrTooManyTaps = errors.New("broker: too many taps")

// tapRegistry holds the observers of Tap. When there is none, a routed
// message costs one atomic load.
type tapRegistry struct {
	n    atomic.Int64 // len(*list), read without mu
	mu   sync.Mutex
	list atomic.Pointer[[]*tap] // copy-on-write
}

type tap struct {
	filter string
	fn     func(*msg.Message)
}

// Tap calls fn for every message the hub routes (from devices, the API,
// rules, bridges, wills) whose topic matches filter, after it was routed
// to the subscribers; $-topics match only filters that name them, as in
// MQTT. It is for observers (the dashboard's live view and topic rates),
// not for delivery: fn runs on the publishing goroutine and must not block
// or keep m beyond the call unless it treats m as read-only (messages are
// immutable once routed). cancel removes the tap; it is safe to call more
// than once. Errors wrap ErrBadFilter or are ErrTooManyTaps.
func (s *Server) Tap(filter string, fn func(m *msg.Message)) (cancel func(), err error) {
	if err := topic.ValidateFilter(filter); err != nil || strings.HasPrefix(filter, topic.SharePrefix) {
		return nil, fmt.Errorf("tap %q: %w", filter, ErrBadFilter)
	}
	r := &s.taps
	t := &tap{filter: filter, fn: fn}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.load()
	if len(old) >= MaxTaps {
		return nil, ErrTooManyTaps
	}
	next := append(append(make([]*tap, 0, len(old)+1), old...), t)
	r.list.Store(&next)
	r.n.Store(int64(len(next)))
	var once sync.Once
	return func() { once.Do(func() { r.remove(t) }) }, nil
}

func (r *tapRegistry) load() []*tap {
	if p := r.list.Load(); p != nil {
		return *p
	}
	return nil
}

func (r *tapRegistry) remove(t *tap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.load()
	next := make([]*tap, 0, len(old))
	for _, x := range old {
		if x != t {
			next = append(next, x)
		}
	}
	r.list.Store(&next)
	r.n.Store(int64(len(next)))
}

// deliver calls the taps whose filter matches m's topic.
func (r *tapRegistry) deliver(m *msg.Message) {
	if r.n.Load() == 0 {
		return
	}
	for _, t := range r.load() {
		if topic.Match(t.filter, m.Topic) {
			t.fn(m)
		}
	}
}
