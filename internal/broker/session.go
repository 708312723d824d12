package broker

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/auth"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
	"github.com/jonboulle/clockwork"
)

// neverExpire is the v5 session expiry interval meaning "never".
const neverExpire = math.MaxUint32

// delivery is one message on its way to one session, with the options that
// session's subscriptions give it.
type delivery struct {
	m      *msg.Message
	qos    byte
	retain bool
	subIDs []uint32
	// notify, set for SendToClient only, hears when this delivery is
	// written, acknowledged or dropped (command.go).
	notify *commandWaiter
	// pseq is the store sequence number of the delivery's queue record
	// (0: not stored; persist_session.go).
	pseq uint64
	// checkRead is set when the subscriber's read access to the topic
	// must be checked before the delivery is accepted (readacl.go).
	checkRead bool
	// handle, set on a delivery imported from another node until it is
	// stored here, is its place in the cluster's replicated queues.
	handle uint64
}

// outbound is a QoS 1/2 message sent (or about to be) and not yet completed.
type outbound struct {
	d   delivery
	pid uint16
	seq uint64 // order of first send, for redelivery in order
	// released is true once PUBREC arrived (QoS 2): PUBREL is due, not
	// PUBLISH.
	released bool
	// unsent is true while a redelivery waits for room in the client's
	// Receive Maximum on the current connection.
	unsent bool
}

// subscription is a session's subscription to one filter; the trie holds a
// pointer to it.
type subscription struct {
	sess   *Session
	filter string // as subscribed, $share/... included
	opts   packet.Subscription
	subID  uint32
	ids    []uint32 // {subID} or nil, shared by every delivery
	// read is the session's read access to the filter (readacl.go):
	// the authorization generation << 2 | auth.Access; 0: not known yet.
	read atomic.Uint64
}

// Session is the MQTT state of one client id that outlives a connection:
// subscriptions, the outbound inflight window and queue, inbound QoS 2 packet
// ids awaiting PUBREL, the will and the expiry. It is attached to at most one
// conn at a time. All fields are guarded by mu.
type Session struct {
	s  *Server
	id string

	// uname holds the username of the latest connection; read without mu.
	uname atomic.Pointer[string]
	// ident is the identity of the latest connection (nil for a session
	// restored from the store until a client resumes it); read without
	// mu by routing (readacl.go).
	ident atomic.Pointer[auth.Identity]
	// msgsIn and msgsOut count the PUBLISHes received from and written to
	// this client (inspect.go); msgsDropped the messages dropped for it.
	msgsIn, msgsOut, msgsDropped atomic.Uint64

	mu sync.Mutex
	// owner is who may resume or take over the session (auth.Identity.Owner;
	// "": anyone, until an identified client claims it).
	owner string
	// readCache holds read decisions per topic name (readacl.go); nil
	// until the first read check.
	readCache *readCache
	conn      *conn // nil while offline
	version   packet.Version
	// removed is set once the session left the registry; deliveries to it
	// are then refused. handedOver is set when the session moved to
	// another node: its replicated deliveries stay for the new node
	// (cluster_session.go). stored is set once the session record was
	// written (persist_session.go). (Here, in version's padding.)
	removed    bool
	handedOver bool
	stored     bool
	// expiry is the session expiry interval in seconds (neverExpire: never).
	expiry uint32
	subs   map[string]*subscription

	window  int
	nextPID uint16
	// queueQoS0 is set when a QoS 0 delivery was queued since the queue
	// was last found without one: a full queue looks for a QoS 0 message
	// to drop first only then (a look is a pass over the whole queue,
	// under the lock the subscriber's acknowledgements wait for). In
	// nextPID's padding: no extra bytes.
	queueQoS0 bool
	// queuePeak is the most messages the queue (memory and disk) held at once since the
	// session began (in nextPID's padding: no extra bytes).
	queuePeak uint32
	seq       uint64
	inflight  map[uint16]*outbound
	unsent    int // inflight entries with unsent set
	queue     msgQueue
	inQoS2    map[uint16]struct{}
	// rare is what few sessions use, allocated when first needed: the
	// delayed will and the expiry timer of an offline session, the
	// back-pressure state (sessionRare).
	rare *sessionRare

	// connectedAt and disconnectedAt are when the latest connection
	// began and ended (0: never).
	connectedAt    unixNano
	disconnectedAt unixNano

	// pseq is the last queue record's sequence number in the store
	// (persist_session.go).
	pseq uint64
}

// sessionRare is the part of a Session that an idle, connected session
// does not use, apart so that such a session pays for one pointer
// (Session.rare, guarded by Session.mu): the delayed will and its timer,
// the expiry timer and the will kept in the store record while the
// session is offline, and the back-pressure state while publishers wait
// for room in its queue. It is dropped again when none of it is in use
// (tidyRareLocked).
type sessionRare struct {
	willTimer   clockwork.Timer
	delayedWill func() // publishes the will the timer waits for
	expiryTimer clockwork.Timer
	// will is the delayed will kept in the session record while
	// willTimer runs (persist_session.go).
	will *willRecord
	// lineHead and lineTail are the line of publishers waiting for room
	// in the queue, in arrival order (pubWait.next); stalled is set when
	// one waited the whole back-pressure bound, and cleared by the next
	// acknowledgement (backpressure.go).
	lineHead, lineTail *pubWait
	lineLen            int
	stalled            bool
	// passes are the messages that publishers let in from the line may
	// still put in the queue although others wait (their batch);
	// passesOut is their sum, passAcks the acknowledgements since the
	// last ones were given (unused passes lapse after half a queue).
	passes    map[*Session]int
	passesOut int
	passAcks  int
	// disk, when set, is the session's queue continued in the store,
	// behind the memory queue (queue_disk.go).
	disk *diskTail
}

// rareLocked returns the session's rare part, allocating it if needed.
func (ss *Session) rareLocked() *sessionRare {
	if ss.rare == nil {
		ss.rare = new(sessionRare)
	}
	return ss.rare
}

// tidyRareLocked drops the rare part when nothing in it is in use (a
// connection resumed the session and no publisher waits).
func (ss *Session) tidyRareLocked() {
	if r := ss.rare; r != nil && r.willTimer == nil && r.expiryTimer == nil && r.lineHead == nil && !r.stalled && r.disk == nil {
		ss.rare = nil
	}
}

// stopWillLocked stops the delayed will's timer and returns the function
// that publishes that will (nil when none was pending).
func (ss *Session) stopWillLocked() (publish func()) {
	r := ss.rare
	if r == nil || r.willTimer == nil {
		return nil
	}
	stopTimer(&r.willTimer)
	publish, r.delayedWill = r.delayedWill, nil
	return publish
}

// stopExpiryLocked stops the expiry timer.
func (ss *Session) stopExpiryLocked() {
	if ss.rare != nil {
		stopTimer(&ss.rare.expiryTimer)
	}
}

// stalledLocked reports whether a publisher waited the whole
// back-pressure bound for this session (backpressure.go).
func (ss *Session) stalledLocked() bool { return ss.rare != nil && ss.rare.stalled }

// unixNano is a wall-clock instant in Unix nanoseconds, 0 for none: 8
// bytes where a time.Time takes 24.
type unixNano int64

// nanoOf returns t as a unixNano (0 for the zero time).
func nanoOf(t time.Time) unixNano {
	if t.IsZero() {
		return 0
	}
	return unixNano(t.UnixNano())
}

// time returns n as a time.Time (the zero time for 0).
func (n unixNano) time() time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

func newSession(s *Server, id string) *Session {
	return &Session{s: s, id: id, nextPID: 1}
}

// ID returns the session's client id.
func (ss *Session) ID() string { return ss.id }

// usernameUnlocked returns the username of the session's latest connection.
func (ss *Session) usernameUnlocked() string {
	if p := ss.uname.Load(); p != nil {
		return *p
	}
	return ""
}

// deliverStatus is what became of one delivery.
type deliverStatus uint8

const (
	// accepted: written, in flight or queued.
	accepted deliverStatus = iota
	// refused: not for this session (ended, expired, QoS 0 while offline).
	refused
	// full: dropped by the queue-full policy, no room for it.
	full
	// mustWait: no room now; the caller waits for room and tries again.
	mustWait
)

// deliver hands one message to the session: written at once when the client
// is connected and the window has room, queued otherwise. It never blocks on
// the network. inline allows the caller's goroutine to write it (see
// write_inline.go). w, when set, is the publisher's back-pressure
// allowance: a message that finds the queue of a connected subscriber full
// waits for room, up to the allowance, before the queue policy drops
// anything (backpressure.go).
func (ss *Session) deliver(d delivery, inline bool, w *pubWait) deliverStatus {
	canWait := w != nil && w.self != ss
	for {
		ss.mu.Lock()
		st, start, room := ss.deliverLocked(d, canWait, w)
		ss.mu.Unlock()
		if st == mustWait && room != nil {
			ss.waitRoom0(room, w)
			continue
		}
		if st == mustWait {
			if st, placed := ss.waitRoom(w); placed {
				return st // the session placed it (backpressure.go)
			}
			continue
		}
		switch {
		case start == nil:
		case inline:
			start.startWriter()
		default:
			go start.writeLoop()
		}
		return st
	}
}

// deliverLocked is deliver under ss.mu; a non-nil start is a connection
// whose idle writer the caller starts once it released the lock. With
// canWait, a delivery that would be dropped for want of room returns
// mustWait: QoS 0 with the channel that is closed when room comes, QoS 1/2
// with w put in the session's line of waiting publishers, which a
// newcomer also joins while anyone is in it (backpressure.go).
func (ss *Session) deliverLocked(d delivery, canWait bool, w *pubWait) (st deliverStatus, start *conn, room <-chan struct{}) {
	s := ss.s
	if ss.removed {
		return refused, nil, nil
	}
	if d.checkRead && !ss.mayReadLocked(d.m.Topic) { // readacl.go
		ss.readDeniedLocked(d)
		return refused, nil, nil
	}
	if !d.m.ExpiresAt.IsZero() && d.m.Expired(ss.s.clock.Now()) { // no clock read for the messages that never expire
		s.drop(ss, d, DropExpired)
		return refused, nil, nil
	}
	if ss.conn == nil {
		if d.qos == 0 {
			s.drop(ss, d, DropQoS0Offline)
			return refused, nil, nil
		}
		return ss.enqueueLocked(d), nil, nil
	}
	if d.qos == 0 {
		ok, started, room := ss.conn.pushQoS0(outItem{d: d}, canWait)
		if room != nil {
			return mustWait, nil, room
		}
		if !ok {
			s.drop(ss, d, DropWriteQueueFull)
			return full, nil, nil
		}
		return accepted, startIf(started, ss.conn), nil
	}
	if canWait && !ss.stalledLocked() && !ss.mayEnterLocked(d.m, w) {
		ss.joinLineLocked(d, w)
		return mustWait, nil, nil
	}
	if len(ss.inflight) < ss.window && ss.queueEmptyLocked() {
		return accepted, startIf(ss.pushSendLocked(d), ss.conn), nil
	}
	return ss.enqueueLocked(d), nil, nil
}

// startIf returns c when start is set.
func startIf(start bool, c *conn) *conn {
	if start {
		return c
	}
	return nil
}

// sendLocked puts a QoS 1/2 delivery in the inflight window and queues it on
// the connection.
func (ss *Session) sendLocked(d delivery) {
	if ss.pushSendLocked(d) {
		go ss.conn.writeLoop()
	}
}

// pushSendLocked is sendLocked leaving the start of an idle writer to the
// caller (see conn.push).
func (ss *Session) pushSendLocked(d delivery) (start bool) {
	if ss.inflight == nil {
		ss.inflight = make(map[uint16]*outbound)
	}
	pid := ss.allocPIDLocked()
	ss.seq++
	ob := &outbound{d: d, pid: pid, seq: ss.seq}
	ss.inflight[pid] = ob
	ss.storeSentLocked(ob)
	ss.s.stats.inflight.Add(1)
	_, start = ss.conn.push(outItem{d: d, pid: pid})
	return start
}

// allocPIDLocked returns a packet id not in use; the window (≤ 65535) keeps
// one free.
func (ss *Session) allocPIDLocked() uint16 {
	for {
		pid := ss.nextPID
		ss.nextPID++
		if ss.nextPID == 0 {
			ss.nextPID = 1
		}
		if _, used := ss.inflight[pid]; !used {
			return pid
		}
	}
}

// enqueueLocked queues a delivery, applying the queue-full policy: queued
// QoS 0 messages go first, then the configured policy. Every drop is
// counted. Over the global memory budget, a message is queued only in place
// of another (memory_limit).
func (ss *Session) enqueueLocked(d delivery) deliverStatus {
	for ss.overOwnLimitsLocked(d.m) {
		if !ss.makeRoomLocked(d, DropQueueFull) {
			return full
		}
	}
	if !ss.diskModeLocked() && ss.queue.len() > 0 && ss.s.mem.over() && !ss.makeRoomLocked(d, DropMemoryLimit) {
		return full
	}
	ss.storeNewLocked(&d, 0)
	if ss.spillLocked(&d) { // queue_disk.go: the backlog is on disk
		return accepted
	}
	ss.pushLocked(d)
	return accepted
}

// makeRoomLocked drops one queued message for d (the oldest QoS 0 one, or
// with drop_oldest the oldest), or drops d itself (drop_new: false).
func (ss *Session) makeRoomLocked(d delivery, why DropReason) bool {
	s := ss.s
	if old, ok := ss.removeFirstQoS0Locked(); ok {
		ss.queueAdded(old, -1)
		ss.forgetLocked(&old)
		s.drop(ss, old, why)
		return true
	}
	if s.opts.QueueFullPolicy == DropOldest && ss.queue.len() == 0 && ss.tailLocked() != nil {
		ss.pageInLocked(dropPage) // the oldest are on disk
	}
	if s.opts.QueueFullPolicy == DropOldest && ss.queue.len() > 0 {
		old := ss.popLocked()
		ss.forgetLocked(&old)
		s.drop(ss, old, why)
		return true
	}
	s.drop(ss, d, why)
	return false
}

// overOwnLimitsLocked reports whether the queue has no room for m under its
// own limits: it holds max_queued_messages, or m would take it over
// max_queued_bytes. An empty queue always takes one message, so that a
// message larger than the byte limit can still be delivered.
func (ss *Session) overOwnLimitsLocked(m *msg.Message) bool {
	o := &ss.s.opts
	q := &ss.queue
	if ss.diskModeLocked() { // queue_disk.go
		n, b := ss.backlogLocked()
		return n > 0 && b+deliverySize(m) > o.MaxBacklogBytes
	}
	if q.len() == 0 {
		return false
	}
	return q.len() >= o.MaxQueuedMessages || o.MaxQueuedBytes > 0 && q.bytes+deliverySize(m) > o.MaxQueuedBytes
}

// queueFullLocked reports whether queueing m would drop a message: the
// queue is over its own limits, or the global memory budget is spent.
func (ss *Session) queueFullLocked(m *msg.Message) bool {
	return ss.overOwnLimitsLocked(m) || !ss.diskModeLocked() && ss.queue.len() > 0 && ss.s.mem.over()
}

// pushLocked appends d to the queue and counts it.
func (ss *Session) pushLocked(d delivery) {
	if d.qos == 0 {
		ss.queueQoS0 = true
	}
	ss.queue.push(d)
	ss.queueAdded(d, 1)
	ss.notePeakLocked()
}

// notePeakLocked raises queuePeak to the backlog, in memory and on disk.
func (ss *Session) notePeakLocked() {
	n, _ := ss.backlogLocked()
	if n := uint32(min(n, math.MaxUint32)); n > ss.queuePeak { //nolint:gosec // bounded just before
		ss.queuePeak = n
	}
}

// popLocked takes the oldest delivery off the queue.
func (ss *Session) popLocked() delivery {
	d := ss.queue.pop()
	ss.queueAdded(d, -1)
	return d
}

// queueAdded counts d (sign 1) or its removal (sign -1) in the queue's
// bytes, the queued gauge and the global memory budget.
func (ss *Session) queueAdded(d delivery, sign int64) {
	n := sign * deliverySize(d.m)
	ss.queue.bytes += n
	ss.s.stats.queued.Add(sign)
	ss.s.mem.add(n)
}

// fillWindowLocked moves queued messages into the inflight window while the
// client is connected and there is room. Expired messages are dropped.
func (ss *Session) fillWindowLocked() {
	if ss.conn == nil {
		return
	}
	now := ss.s.clock.Now()
	for len(ss.inflight) < ss.window {
		if ss.queue.len() == 0 && (ss.tailLocked() == nil || ss.pageInLocked(pageMsgs) == 0) {
			return
		}
		d := ss.popLocked()
		if d.m.Expired(now) {
			ss.forgetLocked(&d)
			ss.s.drop(ss, d, DropExpired)
			continue
		}
		if d.qos == 0 {
			if !ss.conn.enqueue(outItem{d: d}) {
				ss.s.drop(ss, d, DropWriteQueueFull)
			}
			continue
		}
		ss.sendLocked(d)
	}
}

// completeLocked ends an outbound QoS 1/2 flow (PUBACK or PUBCOMP received,
// or the message was dropped as too large) and refills the window.
func (ss *Session) completeLocked(pid uint16) (*outbound, bool) {
	ob, ok := ss.inflight[pid]
	if !ok {
		return nil, false
	}
	delete(ss.inflight, pid)
	ss.forgetLocked(&ob.d)
	ss.s.stats.inflight.Add(-1)
	if ob.unsent {
		ss.unsent--
	}
	ss.resendUnsentLocked()
	ss.fillWindowLocked()
	if r := ss.rare; r != nil {
		r.stalled = false
	}
	ss.admitLocked() // backpressure.go
	return ob, true
}

// resendLocked redelivers the inflight window on a resumed session, in the
// original order: PUBREL where PUBREC had arrived, PUBLISH with DUP
// otherwise. The new connection's window may be smaller than the inflight
// set (a lower Receive Maximum): PUBLISHes beyond it are marked unsent and
// go out as acks free room (MQTT-3.3.4-9).
func (ss *Session) resendLocked() {
	ss.unsent = 0
	if len(ss.inflight) == 0 {
		return
	}
	obs := make([]*outbound, 0, len(ss.inflight))
	for _, ob := range ss.inflight {
		obs = append(obs, ob)
	}
	sortBySeq(obs)
	for i, ob := range obs {
		ob.unsent = false
		switch {
		case ob.released:
			ss.conn.enqueue(outItem{ackType: packet.TypePubrel, pid: ob.pid})
		case i >= ss.window:
			ob.unsent = true
			ss.unsent++
		default:
			ss.conn.enqueue(outItem{d: ob.d, pid: ob.pid, dup: true})
		}
	}
}

// resendUnsentLocked sends the oldest redeliveries that were waiting for
// room in the window.
func (ss *Session) resendUnsentLocked() {
	for ss.conn != nil && ss.unsent > 0 && len(ss.inflight)-ss.unsent < ss.window {
		var next *outbound
		for _, ob := range ss.inflight {
			if ob.unsent && (next == nil || ob.seq < next.seq) {
				next = ob
			}
		}
		next.unsent = false
		ss.unsent--
		ss.conn.enqueue(outItem{d: next.d, pid: next.pid, dup: true})
	}
}

func sortBySeq(obs []*outbound) {
	for i := 1; i < len(obs); i++ {
		for j := i; j > 0 && obs[j].seq < obs[j-1].seq; j-- {
			obs[j], obs[j-1] = obs[j-1], obs[j]
		}
	}
}

// clearLocked forgets all queued and inflight messages (session discarded).
func (ss *Session) clearLocked() {
	ss.dropAllLocked()
	ss.forgetAllLocked()
	ss.resetQueuesLocked()
	ss.wakeLocked()
}

// resetQueuesLocked empties the inflight window and the memory queue
// (their records were deleted or handed over), uncounting them.
func (ss *Session) resetQueuesLocked() {
	ss.s.stats.inflight.Add(-int64(len(ss.inflight)))
	ss.s.stats.queued.Add(-int64(ss.queue.len()))
	ss.s.mem.add(-ss.queue.bytes)
	ss.inflight, ss.unsent, ss.queue, ss.inQoS2 = nil, 0, msgQueue{}, nil
	if ss.rare != nil {
		ss.rare.disk = nil // deleted and uncounted by forgetAllLocked
	}
}

// dropAllLocked counts the deliveries a discarded session still holds as
// dropped (session_ended) and tells their waiters (API commands), except
// QoS 2 messages the client already received (PUBREC came): for those only
// PUBCOMP is missing, and their waiters time out.
func (ss *Session) dropAllLocked() {
	for _, ob := range ss.inflight {
		if !ob.released {
			ss.s.drop(ss, ob.d, DropSessionEnded)
		}
	}
	for i := ss.queue.head; i < len(ss.queue.items); i++ {
		ss.s.drop(ss, ss.queue.items[i], DropSessionEnded)
	}
	ss.countDiskDroppedLocked(DropSessionEnded) // queue_disk.go
}

// msgQueue is a FIFO of deliveries backed by a slice with a moving head.
type msgQueue struct {
	items []delivery
	head  int
	bytes int64 // deliverySize of the items, kept by Session.queueAdded
}

func (q *msgQueue) len() int { return len(q.items) - q.head }

func (q *msgQueue) push(d delivery) {
	if q.head > 0 && q.head >= len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	q.items = append(q.items, d)
}

func (q *msgQueue) pop() delivery {
	d := q.items[q.head]
	q.items[q.head] = delivery{}
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
		if cap(q.items) > 64 {
			q.items = nil
		}
	}
	return d
}

// removeFirstQoS0Locked removes the oldest queued QoS 0 delivery, if any,
// looking only when one was queued since the last look found none.
func (ss *Session) removeFirstQoS0Locked() (delivery, bool) {
	if !ss.queueQoS0 {
		return delivery{}, false
	}
	d, ok := ss.queue.removeFirstQoS0()
	ss.queueQoS0 = ok
	return d, ok
}

// removeFirstQoS0 removes the oldest queued QoS 0 delivery, if any.
func (q *msgQueue) removeFirstQoS0() (delivery, bool) {
	for i := q.head; i < len(q.items); i++ {
		if q.items[i].qos == 0 {
			d := q.items[i]
			copy(q.items[i:], q.items[i+1:])
			q.items[len(q.items)-1] = delivery{}
			q.items = q.items[:len(q.items)-1]
			return d, true
		}
	}
	return delivery{}, false
}
