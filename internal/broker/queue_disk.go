package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/storage"
)

// The backlog of a persistent session on disk (docs/design.md, "Offline
// backlog on disk"). With a store and Options.MaxBacklogBytes > 0, a
// persistent session that is offline keeps its queue in the store only:
// a QoS 1/2 message for it is appended to the store (it always was) and
// counted, not kept in memory. On reconnect the records are paged in, a
// bounded window at a time, as the in-flight window drains. While such a
// disk tail exists, every newer message goes behind it, also while the
// client is connected, so the order is the order of the queue records.

// Paging bounds: one page-in reads at most pageMsgs records or pageBytes
// of messages (at least one record).
const (
	pageMsgs  = 256
	pageBytes = 1 << 20
	// dropPage is what a drop_oldest of a session whose memory part is
	// empty pages in (an offline session under a sustained overflow).
	dropPage = 16
)

// diskTail is the part of a session's queue that is only in the store:
// the queue records with sequence numbers from `from` on that are not in
// memory. Every message in memory is older than every one of them.
type diskTail struct {
	n     int    // records
	bytes int64  // their deliverySize, summed
	from  uint64 // the oldest one's sequence number (a page-in starts there)
	// nextExp is the earliest expiry (Unix ns) of a record that has one,
	// or earlier (0: none): the expiry sweep reads the tail from then on.
	nextExp int64
}

// tailLocked returns the session's disk tail (nil: none). It lives in the
// session's rare part: a session with one is offline, or was until lately.
func (ss *Session) tailLocked() *diskTail {
	if ss.rare == nil {
		return nil
	}
	return ss.rare.disk
}

// queueEmptyLocked reports whether nothing is queued, in memory or on disk.
func (ss *Session) queueEmptyLocked() bool {
	return ss.queue.len() == 0 && ss.tailLocked() == nil
}

// diskModeLocked reports whether ss's queue is bounded as a backlog on
// disk (MaxBacklogBytes) rather than in memory (MaxQueuedMessages,
// MaxQueuedBytes): it has a disk tail, or it is an offline persistent
// session of a hub with a store.
func (ss *Session) diskModeLocked() bool {
	return ss.tailLocked() != nil || ss.conn == nil && ss.spillableLocked()
}

// spillableLocked reports whether ss's queued messages may live on disk only.
func (ss *Session) spillableLocked() bool {
	return ss.s.opts.MaxBacklogBytes > 0 && ss.persistentLocked()
}

// backlogLocked returns the messages and bytes queued, in memory and on disk.
func (ss *Session) backlogLocked() (n int, b int64) {
	n, b = ss.queue.len(), ss.queue.bytes
	if t := ss.tailLocked(); t != nil {
		n, b = n+t.n, b+t.bytes
	}
	return n, b
}

// spillLocked puts a stored delivery on the disk tail instead of in memory
// when ss's queue lives on disk; it reports whether it did.
func (ss *Session) spillLocked(d *delivery) bool {
	if d.pseq == 0 || !ss.stored || ss.s.pstore() == nil {
		return false
	}
	if ss.tailLocked() == nil && (ss.conn != nil || !ss.spillableLocked()) {
		return false
	}
	ss.addDiskLocked(d.pseq, deliverySize(d.m), expiryNS(d.m.ExpiresAt))
	return true
}

// expiryNS is an absolute expiry as a record holds it (0: none).
func expiryNS(at time.Time) int64 {
	if at.IsZero() {
		return 0
	}
	return at.UnixNano()
}

// addDiskLocked counts one record, newer than all others, on the disk
// tail; exp is its expiry (Unix ns, 0: none).
func (ss *Session) addDiskLocked(seq uint64, size, exp int64) {
	t := ss.tailLocked()
	if t == nil {
		t = &diskTail{from: seq}
		ss.rareLocked().disk = t
	}
	t.n++
	t.bytes += size
	t.noteExpiry(exp)
	ss.notePeakLocked()
	ss.s.stats.queued.Add(1)
	ss.s.stats.queuedDisk.Add(1)
	ss.s.stats.queuedDiskBytes.Add(size)
}

// subDiskLocked uncounts n records of size bytes from the disk tail,
// removing it when it is empty.
func (ss *Session) subDiskLocked(n int, size int64) {
	t := ss.tailLocked()
	n = min(n, t.n)
	if n == t.n {
		size = t.bytes // a drift (a record that could not be decoded) ends here
	}
	t.n -= n
	t.bytes -= size
	ss.s.stats.queued.Add(-int64(n))
	ss.s.stats.queuedDisk.Add(-int64(n))
	ss.s.stats.queuedDiskBytes.Add(-size)
	if t.n == 0 {
		ss.rare.disk = nil
	}
}

// spillQueueLocked moves the stored messages at the end of the memory
// queue onto the disk tail (a persistent session went offline): an
// offline session holds no queued message in memory. A QoS 0 message
// (never stored) keeps the ones before it in memory.
func (ss *Session) spillQueueLocked() {
	if !ss.spillableLocked() || !ss.stored {
		return
	}
	q := &ss.queue
	i := len(q.items)
	for i > q.head && q.items[i-1].pseq != 0 {
		i--
	}
	if i == len(q.items) {
		return
	}
	t := ss.tailLocked()
	if t == nil {
		t = &diskTail{}
		ss.rareLocked().disk = t
	}
	var size int64
	for j := i; j < len(q.items); j++ {
		size += deliverySize(q.items[j].m)
		t.noteExpiry(expiryNS(q.items[j].m.ExpiresAt))
	}
	n := len(q.items) - i
	t.from = q.items[i].pseq
	t.n += n
	t.bytes += size
	ss.s.stats.queuedDisk.Add(int64(n))
	ss.s.stats.queuedDiskBytes.Add(size)
	q.bytes -= size
	ss.s.mem.add(-size)
	clear(q.items[i:])
	q.items = q.items[:i]
	if q.head == len(q.items) {
		q.items, q.head = nil, 0
	}
}

// pageInLocked moves up to max records of the disk tail (and at most
// pageBytes of messages) into the memory queue, in order; it returns how
// many it moved. Records that cannot be decoded are deleted and logged;
// messages the client may no longer read are dropped (not_authorized).
func (ss *Session) pageInLocked(limit int) int {
	t := ss.tailLocked()
	p := ss.s.pstore()
	if t == nil || p == nil {
		return 0
	}
	moved, readBytes, seen := 0, int64(0), 0
	err := ss.readDiskLocked(p, t.from, func(seq uint64, v []byte) bool {
		seen++
		t.from = seq + 1
		rec, err := decodeQueued(bytes.Clone(v))
		if err != nil {
			ss.s.log.Warn("undecodable queue record deleted; its message is lost", "client_id", ss.id, "seq", seq, "error", err)
			p.del(queueKey(ss.id, seq))
			ss.subDiskLocked(1, 0)
			return ss.tailLocked() != nil
		}
		if ob, ok := ss.inflight[rec.pid]; rec.pid != 0 && ok && ob.d.pseq == seq {
			return true // in flight already (recovered with its packet id)
		}
		d := rec.d
		d.m.ID = ss.s.nextMsgID()
		d.m.QoS = d.qos
		d.pseq = seq
		size := deliverySize(d.m)
		ss.subDiskLocked(1, size)
		if !ss.mayReadLocked(d.m.Topic) {
			ss.forgetLocked(&d)
			ss.s.drop(ss, d, DropNotAuthorized)
		} else {
			ss.pushLocked(d)
			moved++
			readBytes += size
		}
		return ss.tailLocked() != nil && moved < limit && readBytes < pageBytes
	})
	if err != nil {
		ss.s.log.Error("cannot read the session's queue from the store", "client_id", ss.id, "error", err)
		return moved
	}
	if t := ss.tailLocked(); t != nil && moved == 0 && seen == 0 {
		// The store holds none of the records counted: nothing to wait for.
		ss.s.log.Warn("queued messages counted on disk are not in the store", "client_id", ss.id, "messages", t.n)
		ss.subDiskLocked(t.n, t.bytes)
	}
	return moved
}

// noteExpiry lowers nextExp to exp (Unix ns, 0: none).
func (t *diskTail) noteExpiry(exp int64) {
	if exp != 0 && (t.nextExp == 0 || exp < t.nextExp) {
		t.nextExp = exp
	}
}

// sweepDiskLocked deletes the disk tail's records whose message expired
// (counted as dropped, expired) and returns how many, once the earliest
// expiry noted is due: the whole tail is read then (headers only), and
// the next earliest expiry noted.
func (ss *Session) sweepDiskLocked(now time.Time) int {
	t, p := ss.tailLocked(), ss.s.pstore()
	if t == nil || p == nil || t.nextExp == 0 || now.UnixNano() < t.nextExp {
		return 0
	}
	t.nextExp = 0
	dropped, next := 0, int64(0)
	err := ss.readDiskLocked(p, t.from, func(seq uint64, v []byte) bool {
		pid, exp, size, err := peekQueued(v)
		if err != nil || pid != 0 || exp == 0 || now.UnixNano() < exp {
			if err == nil && exp != 0 && (next == 0 || exp < next) {
				next = exp
			}
			return true
		}
		rec, err := decodeQueued(bytes.Clone(v))
		p.del(queueKey(ss.id, seq))
		ss.subDiskLocked(1, size)
		dropped++
		if err == nil {
			rec.d.pseq = seq
			ss.forgetClusterLocked(rec.d.pseq)
			ss.s.drop(ss, rec.d, DropExpired)
		}
		return ss.tailLocked() != nil
	})
	if err != nil {
		ss.s.log.Error("cannot read the session's queue from the store", "client_id", ss.id, "error", err)
	}
	if t := ss.tailLocked(); t != nil {
		t.noteExpiry(next)
	}
	return dropped
}

// errStopRead ends a read of the disk tail early.
var errStopRead = errors.New("stop")

// readDiskLocked calls fn for the session's queue records from sequence
// number from on, in order, as they are once every write appended so far
// is committed: the store's content under the writes still waiting for
// the committer (ss.mu keeps new ones of this session from being appended
// meanwhile). fn returns false to stop.
func (ss *Session) readDiskLocked(p *persister, from uint64, fn func(seq uint64, v []byte) bool) error {
	start, end := queueKey(ss.id, from), queueEnd(ss.id)
	ov := p.pendingIn(start, end)
	stop := false
	emitPending := func(below uint64, all bool) {
		for !stop && len(ov.puts) > 0 && (all || ov.puts[0].seq < below) {
			e := ov.puts[0]
			ov.puts = ov.puts[1:]
			stop = !fn(e.seq, e.v)
		}
	}
	err := p.st.Range(start, end, func(k, v []byte) error {
		seq := binary.BigEndian.Uint64(k[len(k)-8:])
		emitPending(seq, false)
		if !stop && !ov.hidden && !ov.touched[seq] {
			stop = !fn(seq, v)
		}
		if stop {
			return errStopRead
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopRead) {
		return fmt.Errorf("read queue records: %w", err)
	}
	emitPending(0, true)
	return nil
}

// pendingPut is a queue record written and not yet committed.
type pendingPut struct {
	seq uint64
	v   []byte
}

// pendingView is what the writes waiting for the committer do to a range
// of queue records: the records they put (latest value, in order), the
// sequence numbers they touch (put or deleted: the store's copy is stale),
// and whether a range delete hid everything the store holds.
type pendingView struct {
	puts    []pendingPut
	touched map[uint64]bool
	hidden  bool
}

// pendingIn returns the pending writes' view of the queue keys in
// [start, end) (one session's). The keys are 8-byte sequence numbers
// after a common prefix.
func (p *persister) pendingIn(start, end []byte) pendingView {
	var ops []storage.Op
	in := func(op storage.Op) bool {
		if op.End != nil {
			return bytes.Compare(op.Key, end) < 0 && bytes.Compare(op.End, start) > 0
		}
		return bytes.Compare(op.Key, start) >= 0 && bytes.Compare(op.Key, end) < 0
	}
	p.mu.Lock()
	for _, list := range [2][]storage.Op{p.inCommit, p.ops} {
		for _, op := range list {
			if in(op) {
				ops = append(ops, op)
			}
		}
	}
	p.mu.Unlock()
	v := pendingView{touched: map[uint64]bool{}}
	latest := map[uint64][]byte{}
	for _, op := range ops {
		if op.End != nil { // a whole queue deleted (the session ended)
			clear(latest)
			v.hidden = true
			continue
		}
		seq := binary.BigEndian.Uint64(op.Key[len(op.Key)-8:])
		v.touched[seq] = true
		if op.Delete {
			delete(latest, seq)
		} else {
			latest[seq] = op.Value
		}
	}
	for seq, val := range latest {
		v.puts = append(v.puts, pendingPut{seq: seq, v: val})
	}
	sort.Slice(v.puts, func(i, j int) bool { return v.puts[i].seq < v.puts[j].seq })
	return v
}

// forgetDiskLocked deletes the disk tail's records (the session is
// discarded or moved to another node) and uncounts them.
func (ss *Session) forgetDiskLocked() {
	t := ss.tailLocked()
	if t == nil {
		return
	}
	if p := ss.s.pstore(); p != nil && ss.stored {
		p.delRange(queueKey(ss.id, t.from), queueEnd(ss.id))
	}
	ss.subDiskLocked(t.n, t.bytes)
}

// countDiskDroppedLocked counts the disk tail's messages as dropped for
// why (the session is discarded), with one rate-limited log line.
func (ss *Session) countDiskDroppedLocked(why DropReason) {
	t := ss.tailLocked()
	if t == nil {
		return
	}
	s := ss.s
	n := uint64(t.n) //nolint:gosec // a count
	s.stats.dropped[why].Add(n)
	ss.msgsDropped.Add(n)
	s.logLimitedAt(why.logLevel(), &s.dropLog[why], "messages dropped", "reason", why.String(), "client_id", ss.id,
		"messages", n, "where", "disk")
}

// queueEnd is the key after every queue record of the client id.
func queueEnd(id string) []byte {
	return storage.PrefixEnd(queueKey(id, 0)[:len(prefixQueue)+len(id)+1])
}

// queueLenLocked returns the messages queued, in memory and on disk.
func (ss *Session) queueLenLocked() int {
	n, _ := ss.backlogLocked()
	return n
}

// exportDiskLocked adds the disk tail's records to a session export (a
// takeover by another node), in order, after the memory queue.
func (ss *Session) exportDiskLocked(exp *sessionExport) {
	t, p := ss.tailLocked(), ss.s.pstore()
	if t == nil || p == nil {
		return
	}
	err := ss.readDiskLocked(p, t.from, func(seq uint64, v []byte) bool {
		if rec, err := decodeQueued(v); err == nil && rec.pid == 0 {
			exp.Messages = append(exp.Messages, bytes.Clone(v))
			exp.pseqs = append(exp.pseqs, seq)
		}
		return true
	})
	if err != nil {
		ss.s.log.Error("session's queue on disk not exported", "client_id", ss.id, "error", err)
	}
}

// peekQueued reads what recovery needs of a queue record without decoding
// its message: the packet id (0: not sent), the absolute expiry (Unix ns,
// 0: none) and the delivery's size as deliverySize counts it. It checks
// the same framing decodeQueued does, and never panics.
func peekQueued(b []byte) (pid uint16, expires, size int64, err error) {
	if len(b) < 5 || b[0] != recordVersion || b[1]&^3 != 0 || b[2] > 2 || b[2] == 0 {
		return 0, 0, 0, fmt.Errorf("queue record header: %w", errRecord)
	}
	pid = binary.BigEndian.Uint16(b[3:])
	rd := recReader{b: b[5:]}
	n := rd.uvarint()
	if n > 64 {
		return 0, 0, 0, fmt.Errorf("queue record: %d subscription ids: %w", n, errRecord)
	}
	for range n {
		rd.uvarint()
	}
	rd.byte()                 // message flags
	rd.u64()                  // received at
	expires = int64(rd.u64()) //nolint:gosec // a Unix time in ns, as written
	for range 4 {
		rd.str()
	}
	first := rd.byte()
	if rd.err != nil || first>>4 != byte(packet.TypePublish) {
		return 0, 0, 0, fmt.Errorf("queued message header: %w", errRecord)
	}
	rem, k := binary.Uvarint(rd.b) // MQTT's variable byte integer is LEB128
	if k <= 0 || k > 4 || rem != uint64(len(rd.b)-k) {
		return 0, 0, 0, fmt.Errorf("queued message length: %w", errRecord)
	}
	body := rd.b[k:]
	if len(body) < 2 {
		return 0, 0, 0, fmt.Errorf("queued message topic: %w", errRecord)
	}
	tl := int(binary.BigEndian.Uint16(body))
	if 2+tl > len(body) {
		return 0, 0, 0, fmt.Errorf("queued message topic: %w", errRecord)
	}
	rest := body[2+tl:]
	pl, k := binary.Uvarint(rest)
	if k <= 0 || k > 4 || pl > uint64(len(rest)-k) {
		return 0, 0, 0, fmt.Errorf("queued message properties: %w", errRecord)
	}
	payload := len(rest) - k - int(pl) //nolint:gosec // bounded by len(rest) just above
	return pid, expires, int64(tl+payload) + deliveryOverhead, nil
}
