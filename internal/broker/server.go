package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/internal/netpoll"
	"github.com/iothub-dev/iothub/logging"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
	"github.com/jonboulle/clockwork"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("broker: server closed")

// Server is an MQTT 3.1.1 and 5.0 broker: it owns the sessions, the
// subscription trie, the retained index and the event bus, and serves any
// number of listeners.
type Server struct {
	opts    Options
	log     *slog.Logger
	clock   clockwork.Clock // message and session expiry, will delays (Options.Clock)
	started time.Time

	subs     *topic.Trie[*subscription]
	retained *topic.Retained[*msg.Message]
	events   eventBus
	stats    counters
	msgID    atomic.Uint64
	sec      security // authentication, authorization, rate limits (auth.go)
	// slowLog rate-limits the log of slow consumers' disconnects.
	slowLog logging.Limiter

	// Global limits that SetLimits changes at run time.
	maxConns  atomic.Int64
	maxPacket atomic.Int64

	trace    atomic.Pointer[map[string]struct{}] // traced client ids; nil: none
	replies  replyRegistry                       // AwaitReply waiters (reply.go)
	reserved reservedTopics                      // handlers of "$" request topics (reserved.go)
	taps     tapRegistry                         // Tap observers (tap.go)
	dedup    dedupHook                           // edge resends dropped (dedup.go)
	traceMu  sync.Mutex                          // serialises TraceClient

	mu       sync.Mutex // guards sessions, unattached, listeners, closed
	sessions map[string]*Session
	// unattached holds the connections not attached to a session: before
	// their CONNECT is accepted, and refused ones. An attached connection
	// is found through its session (connsLocked), so an idle connection
	// costs no entry here; a taken-over one, closed by the takeover, is
	// in neither.
	unattached map[*conn]struct{}
	listeners  map[net.Listener]struct{}
	lstates    map[string]*listenerState // by listener name
	closed     bool

	wg   sync.WaitGroup // connection goroutines
	quit chan struct{}
	// handshakes hands a new connection to a goroutine that served one
	// before and waits for the next (handshake.go); idleShakers counts
	// those waiting.
	handshakes  chan *conn
	idleShakers atomic.Int32
	// npoll watches parked idle connections (park.go); nil: none park.
	npoll *netpoll.Poller[*conn]
	// kaWheel holds the keep-alive deadlines of parked connections
	// (park_wheel.go); set with npoll.
	kaWheel *kaWheel

	// mem is the global byte budget (budget.go); the limited logs throttle
	// the warnings about drops, stalled subscribers and the budget.
	mem memBudget
	// connectMem is the budget of large CONNECT packets still arriving
	// (Options.MaxConnectingBytes).
	connectMem memBudget
	dropLog    [dropReasons]limitedLog
	stallLog   limitedLog
	budgetLog  limitedLog

	// The store (persist*.go): nil without Options.Store.
	pstp         atomic.Pointer[persister]
	syncers      syncerSet                 // sync.go
	syncp        atomic.Pointer[persister] // the Syncers' committer when there is no store
	recovery     RecoveryReport
	pendingWills map[*Session]*willRecord // recovered, armed by the first serve
	willsArmed   sync.Once

	// clusterp is the cluster this node belongs to (cluster.go); nil: a
	// single node.
	clusterp atomic.Pointer[Cluster]
}

// New returns a Server with opts (zero fields filled from Defaults).
func New(opts Options) (*Server, error) {
	opts = withDefaults(opts)
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("broker options: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	s := &Server{
		opts:       opts,
		log:        log.With("component", "broker"),
		clock:      opts.Clock,
		started:    time.Now(),
		subs:       topic.NewTrie[*subscription](),
		retained:   topic.NewRetained[*msg.Message](),
		sessions:   make(map[string]*Session),
		unattached: make(map[*conn]struct{}),
		listeners:  make(map[net.Listener]struct{}),
		lstates:    make(map[string]*listenerState),
		quit:       make(chan struct{}),
		handshakes: make(chan *conn),
	}
	s.mem.limit = opts.MaxBufferedBytes
	s.connectMem.limit = opts.MaxConnectingBytes
	s.maxConns.Store(int64(opts.MaxConnections))
	s.maxPacket.Store(int64(opts.MaxPacketSize))
	s.sec.init(&opts)
	for i := range s.dropLog {
		s.dropLog[i].Interval = logEvery
	}
	s.stallLog.Interval, s.budgetLog.Interval = logEvery, logEvery
	s.events.buffer = opts.EventBuffer
	s.events.drops = &s.stats.eventsDropped
	s.events.log = s.log
	s.events.block = opts.EventBlockTimeout
	if opts.Store != nil {
		if err := s.openStore(opts.Store, opts.Durability); err != nil { // persist_recover.go
			return nil, err
		}
	}
	if opts.ParkIdleAfter > 0 {
		var err error
		if s.npoll, err = netpoll.New[*conn](); err != nil {
			s.log.Info("idle connections keep their goroutine", "reason", err)
		} else {
			s.kaWheel = newKAWheel(time.Now())
			go s.reclaimLoop() // park.go
			go s.kaLoop()      // park_wheel.go
		}
	}
	if opts.SysInterval > 0 {
		go s.sysLoop()
	}
	if opts.ExpirySweepInterval > 0 {
		go s.expiryLoop()
	}
	return s, nil
}

// withDefaults fills zero fields from Defaults. Booleans cannot be told apart
// from "unset", so RetainAvailable is taken as given.
func withDefaults(o Options) Options {
	d := Defaults()
	if o.NodeName == "" {
		o.NodeName = d.NodeName
	}
	setIfZero(&o.MaxPacketSize, d.MaxPacketSize)
	setIfZero(&o.MaxInflight, d.MaxInflight)
	setIfZero(&o.MaxQueuedMessages, d.MaxQueuedMessages)
	setIfZero(&o.MaxPendingWrites, d.MaxPendingWrites)
	setIfZero(&o.MaxQueuedBytes, d.MaxQueuedBytes)
	setIfZero(&o.MaxBacklogBytes, d.MaxBacklogBytes)
	setIfZero(&o.MaxPendingWriteBytes, d.MaxPendingWriteBytes)
	setIfZero(&o.MaxBufferedBytes, d.MaxBufferedBytes)
	setIfZero(&o.MaxConnectingBytes, d.MaxConnectingBytes)
	setIfZero(&o.BackpressureTimeout, d.BackpressureTimeout)
	setIfZero(&o.MaxTopicLevels, d.MaxTopicLevels)
	setIfZero(&o.MaxTopicLength, d.MaxTopicLength)
	setIfZero(&o.EventBuffer, d.EventBuffer)
	setIfZero(&o.ConnectTimeout, d.ConnectTimeout)
	setIfZero(&o.WriteTimeout, d.WriteTimeout)
	setIfZero(&o.ParkIdleAfter, d.ParkIdleAfter)
	if o.QueueFullPolicy == "" {
		o.QueueFullPolicy = d.QueueFullPolicy
	}
	if o.SharedStrategy == "" {
		o.SharedStrategy = d.SharedStrategy
	}
	return o
}

func setIfZero[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Options returns the options the server runs with.
func (s *Server) Options() Options { return s.opts }

// NodeName returns the hub node's name.
func (s *Server) NodeName() string { return s.opts.NodeName }

// Serve accepts connections on ln until ln fails or Shutdown is called; name
// labels the listener in logs and events. It returns ErrServerClosed after
// Shutdown.
func (s *Server) Serve(ln net.Listener, name string) error {
	return s.serve(ln, s.listenerState(ListenerOptions{Name: name}, true))
}

func (s *Server) serve(ln net.Listener, ls *listenerState) error {
	name := ls.name
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	s.willsArmed.Do(s.armRecoveredWills)
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = nextBackoff(backoff)
				s.log.Warn("accept failed; retrying", "listener", name, "error", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("listener %s: accept: %w", name, err)
		}
		backoff = 0
		s.startConn(nc, ls)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	return min(2*d, time.Second)
}

// ServeConn serves one already-accepted connection (a WebSocket, a test
// pipe) and returns at once.
func (s *Server) ServeConn(nc net.Conn, listener string) {
	s.startConn(nc, s.listenerState(ListenerOptions{Name: listener}, false))
}

func (s *Server) startConn(nc net.Conn, ls *listenerState) {
	if !s.waitAccept(ls.name) {
		_ = nc.Close()
		return
	}
	listener := ls.name
	c := newConn(s, nc, ls)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.unattached[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.connections.Add(1)
	ls.conns.Add(1)
	s.stats.byListener.add(listener, 1)
	s.stats.listenerTotal.add(listener, 1)
	s.goServe(c) // handshake.go
}

// connsLocked returns every open connection: the unattached ones and
// those attached to a session (ss.conn is written only with s.mu held).
// Called with s.mu held.
func (s *Server) connsLocked() []*conn {
	conns := make([]*conn, 0, len(s.unattached)+len(s.sessions))
	for c := range s.unattached {
		conns = append(conns, c)
	}
	for _, ss := range s.sessions {
		if ss.conn != nil {
			conns = append(conns, ss.conn)
		}
	}
	return conns
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// connClosed runs on the read-loop goroutine when a connection ends.
func (s *Server) connClosed(c *conn) {
	c.finish()
	c.releaseReadBuf()
	s.mu.Lock()
	delete(s.unattached, c)
	s.mu.Unlock()
	s.stats.connections.Add(-1)
	c.lst.conns.Add(-1)
	s.stats.byListener.add(c.listenerName(), -1)
	s.stats.disconnects.add(c.cause(), 1)
	if c.sess != nil {
		s.stats.byVersion[versionIndex(c.version)].Add(-1)
		s.detach(c)
	}
	s.wg.Done()
}

// Shutdown stops accepting connections, sends v5 clients DISCONNECT 0x8B
// (Server shutting down), closes every connection and waits for them, bounded
// by ctx. Wills are not published: the clients did nothing wrong.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	for ln := range s.listeners {
		_ = ln.Close()
	}
	conns := s.connsLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.abort()
		}
		err = fmt.Errorf("broker shutdown: %w", ctx.Err())
	}
	s.stopTimers()
	if s.npoll != nil {
		_ = s.npoll.Close()
	}
	s.closePersister()
	s.events.closeAll(ctx)
	return err
}

// stopTimers stops will and expiry timers so nothing fires after Shutdown.
func (s *Server) stopTimers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		ss.mu.Lock()
		ss.stopWillLocked()
		ss.stopExpiryLocked()
		ss.mu.Unlock()
	}
}

func stopTimer(t *clockwork.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// nextMsgID returns a process-unique message id.
func (s *Server) nextMsgID() uint64 { return s.msgID.Add(1) }

// drop counts a message not delivered to ss, logs it (rate-limited) and
// reports it as an event.
func (s *Server) drop(ss *Session, d delivery, why DropReason) {
	s.stats.dropped[why].Add(1)
	s.logDrop(ss, d, why)
	if ss != nil {
		ss.msgsDropped.Add(1)
	}
	d.notifyDropped(why)
	if s.events.wants(msg.EventDeliveryDropped) {
		s.emitDelivery(msg.EventDeliveryDropped, ss, d.m, d.qos, why.String())
	}
}

// logDrop logs a drop, rate-limited per reason; the line's attributes are
// built only when it goes out (a drop runs under the session's lock, and a
// full queue drops at the rate messages arrive).
func (s *Server) logDrop(ss *Session, d delivery, why DropReason) {
	level := why.logLevel()
	at, n, ok := s.dropLog[why].Level(s.log, level)
	if !ok {
		return
	}
	args := []any{"reason", why.String(), "client_id", ss.ID(), "topic", d.m.Topic}
	if at == level {
		args = append(args, logging.SuppressedKey, n)
	}
	s.log.Log(context.Background(), at, "messages dropped", args...)
}

// emitDelivery emits a delivered or dropped event for session ss (through
// the handlers' queues: the caller may hold locks).
func (s *Server) emitDelivery(kind msg.EventKind, ss *Session, m *msg.Message, qos byte, reason string) {
	s.events.emit(s.deliveryEvent(kind, ss, m, qos, reason))
}

// deliveryEvent builds a delivered, acked or dropped event for session ss.
func (s *Server) deliveryEvent(kind msg.EventKind, ss *Session, m *msg.Message, qos byte, reason string) msg.Event {
	return msg.Event{
		Kind:     kind,
		Time:     time.Now(),
		Node:     s.opts.NodeName,
		ClientID: ss.id,
		Username: ss.usernameUnlocked(),
		Message:  m,
		QoS:      qos,
		Reason:   reason,
	}
}
