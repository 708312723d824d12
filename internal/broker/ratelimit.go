package broker

import (
	"sync"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// Rate is a token-bucket rate: PerSecond tokens a second, up to Burst in
// reserve. A zero PerSecond means no limit; a zero Burst means PerSecond
// (at least 1).
type Rate struct {
	PerSecond float64
	Burst     float64
}

func (r Rate) enabled() bool { return r.PerSecond > 0 }

// ListenerRates are one listener's limits, shared by all its connections.
type ListenerRates struct {
	// Connections limits accepted connections a second: beyond it the
	// listener stops accepting for a moment (new clients wait in the
	// kernel's backlog), so a reconnect storm after an outage cannot
	// starve the connected clients.
	Connections Rate
	// Messages and Bytes limit the PUBLISH packets and payload bytes a
	// second of all the listener's clients together.
	Messages Rate
	Bytes    Rate
}

// RateLimits are the publish and connection rate limits. A client over a
// publish limit is slowed: the hub stops reading its socket until the
// bucket refills (TCP back-pressure, nothing lost), except that an MQTT 5
// client's QoS 1/2 PUBLISH is answered Quota exceeded (0x97) and dropped,
// so the client learns why. Every limited message is counted.
type RateLimits struct {
	// ClientMessages and ClientBytes limit each client's PUBLISH packets
	// and payload bytes a second.
	ClientMessages Rate
	ClientBytes    Rate
	// Listeners holds per-listener limits by listener name.
	Listeners map[string]ListenerRates
}

// SetRateLimits replaces the rate limits at run time; connected clients
// take the new per-client limits with their next PUBLISH.
func (s *Server) SetRateLimits(l RateLimits) {
	s.sec.limits.Store(newRateState(l))
}

// rateState is one generation of RateLimits with the shared buckets.
type rateState struct {
	limits    RateLimits
	listeners map[string]*listenerBuckets
}

type listenerBuckets struct {
	conns, msgs, bytes *bucket
}

func newRateState(l RateLimits) *rateState {
	rs := &rateState{limits: l, listeners: map[string]*listenerBuckets{}}
	for name, lr := range l.Listeners {
		rs.listeners[name] = &listenerBuckets{conns: newBucket(lr.Connections), msgs: newBucket(lr.Messages), bytes: newBucket(lr.Bytes)}
	}
	return rs
}

// bucket is a token bucket safe for concurrent use; nil means no limit.
// Tokens may go negative (debt): a message larger than the burst passes
// when the bucket is full and is paid for by the wait that follows.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(r Rate) *bucket {
	if !r.enabled() {
		return nil
	}
	burst := r.Burst
	if burst <= 0 {
		burst = max(r.PerSecond, 1)
	}
	return &bucket{rate: r.PerSecond, burst: burst, tokens: burst, last: time.Now()}
}

func (b *bucket) refill(now time.Time) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

// short reports whether the bucket holds fewer than n tokens (or than a
// full bucket, for n above the burst).
func (b *bucket) short(n float64, now time.Time) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	return b.tokens < min(n, b.burst)
}

// take removes n tokens and returns how long until the bucket is out of
// debt.
func (b *bucket) take(n float64, now time.Time) time.Duration {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	b.tokens -= n
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// clientBuckets are one connection's publish buckets, rebuilt when the
// limits change. Owned by the read goroutine.
type clientBuckets struct {
	of         *rateState
	msgs, byts *bucket
}

// maxPause bounds one pause of a connection's reads; a longer debt is
// paid over the following packets.
const maxPause = time.Second

// rateLimitPublish applies the publish rate limits to p before it is
// routed. It returns true when p was refused (a v5 QoS 1/2 PUBLISH over
// the limit, answered Quota exceeded); otherwise it may pause the read
// goroutine until the client is back under its limits.
func (c *conn) rateLimitPublish(p *packet.Publish) bool {
	rs := c.s.sec.limits.Load()
	lb := rs.listeners[c.listenerName()]
	if !rs.limits.ClientMessages.enabled() && !rs.limits.ClientBytes.enabled() && lb == nil {
		return false
	}
	cb := c.rate
	if cb == nil || cb.of != rs {
		cb = &clientBuckets{of: rs, msgs: newBucket(rs.limits.ClientMessages), byts: newBucket(rs.limits.ClientBytes)}
		c.rate = cb
	}
	if lb == nil {
		lb = &listenerBuckets{}
	}
	now := time.Now()
	size := float64(len(p.Payload))
	if c.version == packet.V5 && p.QoS > 0 &&
		(cb.msgs.short(1, now) || cb.byts.short(size, now) || lb.msgs.short(1, now) || lb.bytes.short(size, now)) {
		c.s.stats.publishRateLimited.Add(1)
		return true
	}
	wait := max(cb.msgs.take(1, now), cb.byts.take(size, now), lb.msgs.take(1, now), lb.bytes.take(size, now))
	if wait > 0 {
		c.s.stats.publishRateLimited.Add(1)
		c.pause(min(wait, maxPause))
	}
	return false
}

// pause stops reading from c for d (the socket's buffers fill up and TCP
// slows the client down), or until the server shuts down.
func (c *conn) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.s.quit:
	}
}

// waitAccept delays a new connection of the named listener until its
// connection-rate bucket allows it; false when the server shut down
// meanwhile.
func (s *Server) waitAccept(listener string) bool {
	lb := s.sec.limits.Load().listeners[listener]
	if lb == nil || lb.conns == nil {
		return true
	}
	wait := lb.conns.take(1, time.Now())
	if wait <= 0 {
		return true
	}
	s.stats.connectionRateLimited.Add(1)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.quit:
		return false
	}
}
