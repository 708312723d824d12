package broker

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/iothub-dev/iothub/msg"
)

// TopicHandler serves requests that clients publish into a reserved
// namespace under "$" (the device shadow and jobs services on
// "$aws/things/…"). The broker refuses every client PUBLISH to a "$" topic
// unless a handler registered for its prefix claims the topic.
type TopicHandler interface {
	// HandlesTopic reports whether the topic name is one of the handler's
	// request topics. It is called on a publisher's read goroutine for
	// every PUBLISH under the handler's prefix: it must be cheap, must not
	// block, and must be safe for concurrent use.
	HandlesTopic(topic string) bool
	// HandleMessage receives a message published to a topic HandlesTopic
	// claimed, after the message was routed to subscribers (and authorized:
	// the ACL applies to reserved topics as to any other). It runs on the
	// publisher's goroutine, so it must not block: queue the work. The
	// message must not be modified.
	HandleMessage(m *msg.Message)
}

// reservedHandler is one registered TopicHandler and its prefix.
type reservedHandler struct {
	prefix string
	h      TopicHandler
}

// reservedTopics holds the handlers, copy-on-write.
type reservedTopics struct {
	mu   sync.Mutex
	list atomic.Pointer[[]reservedHandler]
}

// HandleTopics registers h for the topics starting with prefix, which must
// start with "$". The returned function unregisters it.
func (s *Server) HandleTopics(prefix string, h TopicHandler) (remove func()) {
	rt := &s.reserved
	rt.mu.Lock()
	defer rt.mu.Unlock()
	next := append(rt.load(), reservedHandler{prefix: prefix, h: h})
	rt.list.Store(&next)
	return func() {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		var kept []reservedHandler
		for _, r := range rt.load() {
			if r.h != h || r.prefix != prefix {
				kept = append(kept, r)
			}
		}
		rt.list.Store(&kept)
	}
}

func (rt *reservedTopics) load() []reservedHandler {
	if p := rt.list.Load(); p != nil {
		return *p
	}
	return nil
}

// handler returns the handler that claims topic, or nil.
func (rt *reservedTopics) handler(topic string) TopicHandler {
	for _, r := range rt.load() {
		if strings.HasPrefix(topic, r.prefix) && r.h.HandlesTopic(topic) {
			return r.h
		}
	}
	return nil
}

// ReservedTopicHandled reports whether a TopicHandler claims the "$"
// topic: a hub feature takes publishes on it (the HTTP API publishes only
// to such "$" topics).
func (s *Server) ReservedTopicHandled(topic string) bool {
	return s.reserved.handler(topic) != nil
}
