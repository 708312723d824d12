package broker

import (
	"sync"
	"sync/atomic"

	"github.com/iothub-dev/iothub/msg"
)

// replyRegistry holds the waiters of AwaitReply, keyed by response topic
// and correlation data. When nobody waits, checking a publish costs one
// atomic load.
type replyRegistry struct {
	n  atomic.Int64 // len(m), read without mu
	mu sync.Mutex
	m  map[replyKey]chan *msg.Message
}

type replyKey struct{ topic, correlation string }

// AwaitReply registers interest in the reply to a request/response
// message: the first message published to responseTopic whose MQTT 5
// Correlation Data equals correlation (by any client, or by Publish) is
// sent on the returned channel, which has room for it, so the publishing
// goroutine never blocks. The reply is routed to subscribers as usual as
// well. cancel removes the registration; call it when done waiting. A
// second registration for the same topic and correlation replaces the
// first.
func (s *Server) AwaitReply(responseTopic string, correlation []byte) (replies <-chan *msg.Message, cancel func()) {
	r := &s.replies
	k := replyKey{responseTopic, string(correlation)}
	ch := make(chan *msg.Message, 1)
	r.mu.Lock()
	if r.m == nil {
		r.m = make(map[replyKey]chan *msg.Message)
	}
	r.m[k] = ch
	r.n.Store(int64(len(r.m)))
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		if r.m[k] == ch {
			delete(r.m, k)
			r.n.Store(int64(len(r.m)))
		}
		r.mu.Unlock()
	}
}

// deliver hands m to the waiter of its topic and correlation data, if any,
// and returns 1 when there was one (0 otherwise), to count it as a
// delivery.
func (r *replyRegistry) deliver(m *msg.Message) int {
	if r.n.Load() == 0 || len(m.CorrelationData) == 0 {
		return 0
	}
	k := replyKey{m.Topic, string(m.CorrelationData)}
	r.mu.Lock()
	ch, ok := r.m[k]
	if ok {
		delete(r.m, k)
		r.n.Store(int64(len(r.m)))
	}
	r.mu.Unlock()
	if !ok {
		return 0
	}
	ch <- m // room for one, and the waiter is removed: never blocks
	return 1
}
