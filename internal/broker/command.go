package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// This file holds what the HTTP API needs to talk to one device: a message
// sent to one client's session with a notification when it was written to
// the socket and when the client acknowledged it (SendToClient), replies
// to request/response messages (AwaitReply), and kicking a client (Kick).
//
// The notification rides on the delivery itself (delivery.notify): the
// writer calls it after the PUBLISH went out (afterWrite), the ack handler
// when PUBACK or PUBCOMP arrived (completeOutbound), and drop when the
// message was dropped for this client. No event bus is involved, so no
// notification is lost to a full queue.

// Errors of SendToClient, Kick and the server-side subscription methods.
var (
	// ErrNoSession: no session exists for the client id.
	ErrNoSession = errors.New("broker: no session for this client id")
	// ErrNotConnected: the client has a session but no connection.
	ErrNotConnected = errors.New("broker: client not connected")
	// ErrConnected: the client is connected (DiscardSession needs it
	// offline: Kick it first).
	ErrConnected = errors.New("broker: client connected")
)

// Outcome says what SendToClient did with a message.
type Outcome uint8

// The outcomes of SendToClient.
const (
	// OutcomeNoSession: the client has no session; nothing was sent.
	OutcomeNoSession Outcome = iota
	// OutcomeSent: the client is connected and the message is on its way
	// to the socket (at once, or when its inflight window has room).
	OutcomeSent
	// OutcomeQueued: the client is offline with a persistent session (or
	// still receiving its backlog from disk); the message waits in the
	// session and is sent when the client reconnects (or after the
	// backlog).
	OutcomeQueued
	// OutcomeDropped: the session refused the message (a QoS 0 message
	// for an offline client, a full queue with the drop_new policy, an
	// expired message); the result channel says why.
	OutcomeDropped
)

var outcomeNames = [...]string{"no_session", "sent", "queued", "dropped"}

// String returns the outcome in snake_case: no_session, sent, queued, dropped.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// DeliveryStatus is a step of one message's delivery to one client.
type DeliveryStatus uint8

// The steps SendToClient reports.
const (
	// StatusDelivered: the PUBLISH was written to the client's socket.
	StatusDelivered DeliveryStatus = iota + 1
	// StatusAcked: the client acknowledged it (PUBACK for QoS 1, PUBCOMP
	// for QoS 2).
	StatusAcked
	// StatusDropped: the message was dropped for this client (Reason).
	StatusDropped
)

var statusNames = [...]string{StatusDelivered: "delivered", StatusAcked: "acked", StatusDropped: "dropped"}

// String returns the status: delivered, acked or dropped.
func (s DeliveryStatus) String() string {
	if int(s) < len(statusNames) && statusNames[s] != "" {
		return statusNames[s]
	}
	return "unknown"
}

// DeliveryResult is one step of a delivery reported by SendToClient.
type DeliveryResult struct {
	Status DeliveryStatus
	// At is when the step happened.
	At time.Time
	// Reason names why the message was dropped (StatusDropped only):
	// queue_full, expired, packet_too_large, write_queue_full, …
	Reason string
}

// commandWaiter receives the steps of one SendToClient delivery. Its
// methods are called by the broker's goroutines without a lock held that
// a reader of the channel could need; they never block: the channel has
// room for every step, each step is sent at most once, and nothing follows
// an acked or dropped step.
type commandWaiter struct {
	ch        chan DeliveryResult
	delivered atomic.Bool
	done      atomic.Bool // acked or dropped sent; channel closed
	mu        sync.Mutex  // serialises sends with close
}

func newCommandWaiter() *commandWaiter {
	return &commandWaiter{ch: make(chan DeliveryResult, 2)}
}

// written reports the PUBLISH written to the socket (the first time only:
// a redelivery after reconnect is not a new step).
func (w *commandWaiter) written(at time.Time) {
	if w.delivered.CompareAndSwap(false, true) {
		w.send(DeliveryResult{Status: StatusDelivered, At: at}, false)
	}
}

// acked reports the acknowledgement and ends the delivery.
func (w *commandWaiter) acked(at time.Time) {
	w.send(DeliveryResult{Status: StatusAcked, At: at}, true)
}

// dropped reports a drop and ends the delivery.
func (w *commandWaiter) dropped(why DropReason) {
	w.send(DeliveryResult{Status: StatusDropped, At: time.Now(), Reason: why.String()}, true)
}

func (w *commandWaiter) send(r DeliveryResult, final bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done.Load() {
		return
	}
	select {
	case w.ch <- r:
	default: // cannot happen: one delivered and one final step fit
	}
	if final {
		w.done.Store(true)
		close(w.ch)
	}
}

// SendToClient sends m to the session of clientID only, whatever its
// subscriptions (it is not routed to other subscribers), and reports what
// happened: OutcomeNoSession (nothing sent), OutcomeSent, OutcomeQueued or
// OutcomeDropped. For every outcome but OutcomeNoSession the returned
// channel receives the later steps of this very message: StatusDelivered
// once it is written to the client's socket, then StatusAcked when the
// client's PUBACK (QoS 1) or PUBCOMP (QoS 2) arrives, or StatusDropped; the
// channel is closed after acked or dropped. A QoS 0 message ends at
// delivered, and the channel stays open. A message queued on disk (an
// offline persistent session's backlog, queue_disk.go) gets no later
// steps: the store keeps the message, not the channel. If the session is discarded (a
// clean-start reconnect, expiry) before the message was acknowledged,
// StatusDropped comes with reason session_ended (a QoS 2 message whose
// PUBREC arrived gets no further step: callers bound their wait with a
// timeout).
//
// m.Topic must be a valid topic name, m.QoS 0-2; ID and ReceivedAt are
// filled when zero. m must not be modified afterwards. Retain is sent as
// given but nothing is stored as retained. A message_publish event is
// emitted, so rules see commands like any other message.
func (s *Server) SendToClient(ctx context.Context, clientID string, m *msg.Message) (Outcome, <-chan DeliveryResult, error) {
	if err := ctx.Err(); err != nil {
		return OutcomeNoSession, nil, fmt.Errorf("send to %q: %w", clientID, err)
	}
	if err := s.checkInjected(m); err != nil {
		return OutcomeNoSession, nil, err
	}
	ss := s.session(clientID)
	if ss == nil {
		return OutcomeNoSession, nil, nil
	}
	if s.events.wants(msg.EventMessagePublished) {
		s.events.emitUnlocked(msg.Event{
			Kind: msg.EventMessagePublished, Time: m.ReceivedAt, Node: s.opts.NodeName,
			ClientID: m.ClientID, Username: m.Username, Message: m, QoS: m.QoS,
		})
	}
	w := newCommandWaiter()
	// A command reaches the client only on a topic it may read (readacl.go).
	out := ss.deliverCommand(delivery{m: m, qos: m.QoS, retain: m.Retain, notify: w, checkRead: true})
	return out, w.ch, nil
}

// checkInjected validates a message injected by the hub and fills its ID
// and arrival time.
func (s *Server) checkInjected(m *msg.Message) error {
	if err := topic.ValidateName(m.Topic); err != nil {
		return fmt.Errorf("topic %q: %w", m.Topic, err)
	}
	if err := s.checkTopicLimits(m.Topic); err != nil {
		return fmt.Errorf("topic %q: %w", m.Topic, err)
	}
	if m.QoS > 2 {
		return fmt.Errorf("qos %d: must be 0, 1 or 2", m.QoS)
	}
	if m.ID == 0 {
		m.ID = s.nextMsgID()
	}
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = s.clock.Now()
	}
	return nil
}

// session returns the session of clientID, or nil.
func (s *Server) session(clientID string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[clientID]
}

// deliverCommand is deliver for SendToClient: the same rules, and it says
// whether the message went to the connection or waits in the session.
func (ss *Session) deliverCommand(d delivery) Outcome {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch {
	case ss.removed:
		return OutcomeNoSession
	case d.checkRead && !ss.mayReadLocked(d.m.Topic): // readacl.go
		ss.readDeniedLocked(d)
		return OutcomeDropped
	case d.m.Expired(ss.s.clock.Now()):
		ss.s.drop(ss, d, DropExpired)
		return OutcomeDropped
	case ss.conn == nil && d.qos == 0:
		ss.s.drop(ss, d, DropQoS0Offline)
		return OutcomeDropped
	case ss.conn == nil:
		return queuedOrDropped(ss.enqueueLocked(d) == accepted)
	case d.qos == 0:
		if !ss.conn.enqueue(outItem{d: d}) {
			ss.s.drop(ss, d, DropWriteQueueFull)
			return OutcomeDropped
		}
		return OutcomeSent
	case len(ss.inflight) < ss.window && ss.queueEmptyLocked():
		ss.sendLocked(d)
		return OutcomeSent
	}
	// Connected with a full window: it goes out as acks free room, or
	// queues behind a backlog still on disk (queue_disk.go).
	if ss.enqueueLocked(d) == accepted {
		if ss.tailLocked() != nil {
			return OutcomeQueued
		}
		return OutcomeSent
	}
	return OutcomeDropped
}

func queuedOrDropped(ok bool) Outcome {
	if ok {
		return OutcomeQueued
	}
	return OutcomeDropped
}

// notifyAcked is called when the delivery's QoS 1/2 flow completed.
func (d *delivery) notifyAcked() {
	if d.notify != nil {
		d.notify.acked(time.Now())
	}
}

// notifyDropped is called when the delivery was dropped.
func (d *delivery) notifyDropped(why DropReason) {
	if d.notify != nil {
		d.notify.dropped(why)
	}
}

// Kick closes clientID's connection; a v5 client gets DISCONNECT 0x98
// (Administrative action) first. Its will is published as for any
// connection that ends without DISCONNECT. The session stays (when it is
// persistent). It returns ErrNoSession or ErrNotConnected when there is no
// connection to close.
func (s *Server) Kick(clientID string) error {
	ss := s.session(clientID)
	if ss == nil {
		return ErrNoSession
	}
	ss.mu.Lock()
	c := ss.conn
	ss.mu.Unlock()
	if c == nil {
		return ErrNotConnected
	}
	s.log.Info("client kicked", "client_id", clientID)
	c.closeWith(packet.AdministrativeAction, "kicked", "disconnected by an administrator")
	return nil
}

// DiscardSession ends an offline client's session now, as its expiry
// would: subscriptions, queued and unacknowledged messages (counted as
// dropped, session_ended) and its stored record go; a delayed will is
// published. Errors are ErrNoSession, or ErrConnected for a connected
// client (Kick it first; a client that reconnects meanwhile keeps its
// session).
func (s *Server) DiscardSession(clientID string) error {
	ss := s.session(clientID)
	if ss == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	ss.mu.Lock()
	if ss.removed {
		ss.mu.Unlock()
		s.mu.Unlock()
		return ErrNoSession
	}
	if ss.conn != nil {
		ss.mu.Unlock()
		s.mu.Unlock()
		return ErrConnected
	}
	will := ss.stopWillLocked()
	s.removeSessionLocked(ss)
	ss.mu.Unlock()
	s.mu.Unlock()
	s.log.Info("session discarded", "client_id", clientID)
	if will != nil {
		will()
	}
	return nil
}
