package broker

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// Metrics receives measurements the broker cannot keep as plain counters.
// Options.Metrics holds it; nil means no measurement is taken. Methods are
// called on the broker's hot path, from many goroutines at once: they must
// be safe for concurrent use, must not block and should not allocate.
type Metrics interface {
	// ObserveDelivery records the time from a message's arrival at the hub
	// (msg.Message.ReceivedAt) to its PUBLISH being written to a
	// subscriber's socket, for a delivery at qos.
	ObserveDelivery(latency time.Duration, qos byte)
}

// labelCounters counts events by a string label (listener name, disconnect
// reason, CONNACK code). The set of labels is small and grows rarely, so a
// sync.Map of atomic counters costs one map read per event.
type labelCounters struct{ m sync.Map } // string → *atomic.Int64

func (l *labelCounters) add(label string, n int64) {
	v, ok := l.m.Load(label)
	if !ok {
		v, _ = l.m.LoadOrStore(label, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(n)
}

// snapshot returns the counters as a map.
func (l *labelCounters) snapshot() map[string]int64 {
	out := make(map[string]int64)
	l.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// versionIndex maps a protocol version to its slot in the per-version
// counters: 0 for 3.1, 1 for 3.1.1, 2 for 5.0.
func versionIndex(v packet.Version) int {
	switch v {
	case packet.V31:
		return 0
	case packet.V5:
		return 2
	}
	return 1
}

// protocolVersions names the per-version counter slots.
var protocolVersions = [3]string{"3.1", "3.1.1", "5.0"}

// TraceClient turns the per-client trace on or off for clientID: while on,
// every packet the client sends and every packet sent to it is logged at
// Info with its client id. It takes effect at once, also for a connection
// already open. Safe for concurrent use.
func (s *Server) TraceClient(clientID string, on bool) {
	s.traceMu.Lock()
	defer s.traceMu.Unlock()
	old := s.trace.Load()
	next := make(map[string]struct{})
	if old != nil {
		for id := range *old {
			next[id] = struct{}{}
		}
	}
	if on {
		next[clientID] = struct{}{}
	} else {
		delete(next, clientID)
	}
	if len(next) == 0 {
		s.trace.Store(nil)
		return
	}
	s.trace.Store(&next)
}

// TracedClients returns the client ids being traced, sorted.
func (s *Server) TracedClients() []string {
	set := s.trace.Load()
	if set == nil {
		return []string{}
	}
	out := make([]string, 0, len(*set))
	for id := range *set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// traced reports whether c's client is traced: one atomic load when nothing
// is traced.
func (c *conn) traced() bool {
	set := c.s.trace.Load()
	if set == nil || c.sess == nil {
		return false
	}
	_, ok := (*set)[c.sess.id]
	return ok
}

// traceLimit caps the payload bytes a trace line shows.
const traceLimit = 256

// traceIn logs a packet received from a traced client (after handling, so
// that CONNECT's client id is known). PUBLISH is traced by handlePublish.
func (c *conn) traceIn(fh packet.FixedHeader) {
	if fh.Type == packet.TypePublish {
		return // handlePublish traces it with its decoded fields
	}
	c.logger().Info("trace", "client_id", c.sess.id, "dir", "in", "type", fh.Type.String(), "remaining_length", fh.RemainingLength)
}

// traceOut logs a packet written to a traced client.
func (c *conn) traceOut(it *outItem) {
	args := []any{"client_id", c.sess.id, "dir", "out"}
	switch {
	case it.d.m != nil && it.d.m != droppedMarker:
		m := it.d.m
		args = append(args, "type", "PUBLISH", "topic", m.Topic, "qos", it.d.qos, "retain", it.d.retain, "dup", it.dup, "packet_id", it.pid, "payload", tracePayload(m.Payload),
			"latency", time.Since(m.ReceivedAt))
	case it.ackType != 0:
		args = append(args, "type", it.ackType.String(), "packet_id", it.pid, "reason_code", it.ackCode.String())
	case it.pkt != nil:
		args = append(args, "type", it.pkt.Type().String())
	default:
		return
	}
	c.logger().Info("trace", args...)
}

// tracePayload shows at most traceLimit bytes of a payload.
func tracePayload(b []byte) string {
	if len(b) > traceLimit {
		return string(b[:traceLimit]) + "…"
	}
	return string(b)
}
