package broker

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/logging"
	"github.com/iothub-dev/iothub/msg"
)

// EventHandler receives broker events. HandleEvent is called from one
// goroutine per registered handler, in the order the events were emitted,
// through the handler's bounded queue (Options.EventBuffer); it may block,
// but while it does, events for it queue up to that bound and then are
// dropped and counted (except published, delivered and acked events of
// QoS 1/2 messages, whose emitter waits up to Options.EventBlockTimeout
// for room first).
type EventHandler interface {
	HandleEvent(ev msg.Event)
}

// InlineEventHandler is an EventHandler that takes the events emitted
// where the broker holds no lock — message published and acked, client
// connected and disconnected — on the emitting goroutine instead of
// through its queue; the other kinds still reach HandleEvent through the
// queue. This is the rule engine's path: a QoS 1/2 message is evaluated
// on its publisher's goroutine before the PUBACK is queued, so that
// whatever the rules append to a durable queue (a Syncer) is committed
// with the store before the PUBACK goes out, and a slow rule slows only
// the publishers that feed it.
type InlineEventHandler interface {
	EventHandler
	// HandleEventInline handles ev on the emitting goroutine and returns
	// when done; ev and what it points to must not be kept after the
	// message's own lifetime rules (msg.Message is immutable). It must
	// not wait on other clients or on the network. Publishing with ctx
	// (Server.Publish) does not wait for the store: the acknowledgement
	// that depends on the event already does.
	HandleEventInline(ctx context.Context, ev *msg.Event)
}

// EventFilter is implemented by an EventHandler that wants only some kinds
// of events, and may change its mind at any time (rules are added and
// removed). The broker asks before building an event and queues only
// wanted ones, so a hub whose handlers want no message events pays nothing
// for them per message.
type EventFilter interface {
	WantsEvent(kind msg.EventKind) bool
}

// EventHandlerFunc adapts a function to EventHandler.
type EventHandlerFunc func(ev msg.Event)

// HandleEvent calls f(ev).
func (f EventHandlerFunc) HandleEvent(ev msg.Event) { f(ev) }

// eventSub is one registered handler with its bounded queue.
type eventSub struct {
	h       EventHandler
	inline  InlineEventHandler // nil: every event goes through ch
	filter  EventFilter        // nil: wants everything
	ch      chan msg.Event
	dropped atomic.Uint64
	done    chan struct{}
}

// eventBus fans events out to handlers without ever blocking the emitter.
type eventBus struct {
	mu     sync.RWMutex
	subs   atomic.Pointer[[]*eventSub] // copy-on-write
	buffer int
	drops  *atomic.Uint64
	// log and dropLog report drops (rate-limited).
	log     *slog.Logger
	dropLog logging.Limiter
	// block is how long emit waits for room for an event that must not be
	// dropped (see mustNotDrop); 0 never waits.
	block time.Duration
}

// AddEventHandler registers h and starts its goroutine. The returned function
// unregisters it and waits for its goroutine to finish the queued events.
// Every drop because h's queue was full is counted in Stats().EventsDropped.
func (s *Server) AddEventHandler(h EventHandler) (remove func()) {
	return s.events.add(h)
}

func (b *eventBus) add(h EventHandler) func() {
	es := &eventSub{h: h, ch: make(chan msg.Event, b.buffer), done: make(chan struct{})}
	es.filter, _ = h.(EventFilter)
	es.inline, _ = h.(InlineEventHandler)
	go func() {
		defer close(es.done)
		for ev := range es.ch {
			h.HandleEvent(ev)
		}
	}()
	b.mu.Lock()
	old := b.load()
	next := make([]*eventSub, 0, len(old)+1)
	next = append(append(next, old...), es)
	b.subs.Store(&next)
	b.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { b.remove(es) }) }
}

// remove unregisters es and waits for its goroutine. Removing a handler
// that is already gone (after Shutdown, or twice) only waits.
func (b *eventBus) remove(es *eventSub) {
	b.mu.Lock()
	old := b.load()
	next := make([]*eventSub, 0, len(old))
	found := false
	for _, x := range old {
		if x == es {
			found = true
		} else {
			next = append(next, x)
		}
	}
	if found {
		b.subs.Store(&next)
		close(es.ch)
	}
	b.mu.Unlock()
	<-es.done
}

func (b *eventBus) load() []*eventSub {
	if p := b.subs.Load(); p != nil {
		return *p
	}
	return nil
}

// wants reports whether any handler wants events of kind, so emitters can
// skip building the others.
func (b *eventBus) wants(kind msg.EventKind) bool {
	for _, es := range b.load() {
		if es.wants(kind) {
			return true
		}
	}
	return false
}

func (es *eventSub) wants(kind msg.EventKind) bool {
	return es.filter == nil || es.filter.WantsEvent(kind)
}

// inlineCtx is the context inline handlers get: Server.Publish with it
// does not wait for the store (see InlineEventHandler).
var inlineCtx = context.WithValue(context.Background(), inlineKey{}, true)

type inlineKey struct{}

// isInline reports whether ctx comes from an inline event handler.
func isInline(ctx context.Context) bool { return ctx.Value(inlineKey{}) != nil }

// emitUnlocked hands ev to every handler; the caller holds no broker lock,
// so InlineEventHandlers handle it at once, on this goroutine. The others
// get it through their queues, as with emit.
func (b *eventBus) emitUnlocked(ev msg.Event) {
	subs := b.load()
	if len(subs) == 0 {
		return
	}
	queued := false
	for _, es := range subs {
		switch {
		case !es.wants(ev.Kind):
		case es.inline != nil:
			es.inline.HandleEventInline(inlineCtx, &ev)
		default:
			queued = true
		}
	}
	if queued {
		b.enqueue(ev, true)
	}
}

// emit hands ev to every handler through its queue, without blocking
// (except for what mustNotDrop says); the caller may hold broker locks.
func (b *eventBus) emit(ev msg.Event) {
	if len(b.load()) == 0 {
		return
	}
	b.enqueue(ev, false)
}

// enqueue queues ev for the handlers that want it (skipping the inline
// ones when skipInline). It holds b.mu's read lock only to exclude a
// concurrent remove closing a channel under it.
func (b *eventBus) enqueue(ev msg.Event, skipInline bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, es := range b.load() {
		if !es.wants(ev.Kind) || (skipInline && es.inline != nil) {
			continue
		}
		select {
		case es.ch <- ev:
			continue
		default:
		}
		if b.block > 0 && mustNotDrop(&ev) && b.waitSend(es, ev) {
			continue
		}
		es.dropped.Add(1)
		b.drops.Add(1)
		if b.log != nil {
			b.dropLog.Warn(b.log, "event dropped: a handler's queue is full", "event", ev.Kind.String(),
				"client_id", ev.ClientID, "handler_dropped", es.dropped.Load())
		}
	}
}

// mustNotDrop reports whether emit should wait for room instead of dropping:
// published, delivered and acked events of QoS 1/2 messages that did not come
// from the rule engine. Those may feed durable bridges (Kafka), where a drop
// would lose a message the hub acknowledged; waiting pushes back on the
// emitting connection instead. Such events are emitted with no broker lock
// held. Messages republished by rules are excluded: a handler waiting on
// the bus that waits on the handler would deadlock.
func mustNotDrop(ev *msg.Event) bool {
	switch ev.Kind {
	case msg.EventMessagePublished, msg.EventMessageDelivered, msg.EventMessageAcked:
	default:
		return false
	}
	return ev.QoS > 0 && ev.Message != nil && ev.Message.Origin.Kind != msg.OriginRule
}

// waitSend waits up to the bus's block timeout for room in es's queue.
func (b *eventBus) waitSend(es *eventSub, ev msg.Event) bool {
	t := time.NewTimer(b.block)
	defer t.Stop()
	select {
	case es.ch <- ev:
		return true
	case <-t.C:
		return false
	}
}

// closeAll unregisters every handler, letting each drain its queue, bounded
// by ctx.
func (b *eventBus) closeAll(ctx context.Context) {
	for _, es := range b.load() {
		done := make(chan struct{})
		go func() { b.remove(es); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
	}
}
