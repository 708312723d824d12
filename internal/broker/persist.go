package broker

import (
	"encoding/binary"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/storage"
)

// Durability says when a write to the store counts as done (docs/persistence.md).
type Durability string

// The durability settings.
const (
	// DurabilityFsync makes every commit batch durable (fsync) before the
	// acknowledgements that depend on it are sent: an acknowledged QoS 1/2
	// message survives a crash of the hub and of the machine.
	DurabilityFsync Durability = "fsync"
	// DurabilityOS hands every commit batch to the operating system before
	// the acknowledgements are sent, without waiting for the disk: an
	// acknowledged message survives a crash of the hub process, not a power
	// loss or kernel crash.
	DurabilityOS Durability = "os"
)

// maxPendingOps bounds the writes waiting for the committer; a publisher's
// read loop waits (back-pressure) while it is exceeded.
const maxPendingOps = 1 << 16

// persister is the write path to the store: every connection appends its
// writes (puts and deletes, in the order their locks serialise them) and
// callbacks to one pending list; one committer goroutine applies the list
// as one batch (group commit: one fsync for all the writes of that moment)
// and then runs the callbacks in submission order. Acknowledgements that
// promise durability (PUBACK, PUBREC, PUBCOMP, SUBACK) are such callbacks.
//
// Lock order: persister.mu is taken last (after Server.mu, Session.mu and
// conn.outMu) and never held while calling out. txn is read-locked by a
// QoS 2 publish around its routing so that its inbound packet id record
// and its queue records land in one batch.
type persister struct {
	st      storage.Store // nil: only the Syncers (no store configured)
	sync    bool
	log     *slog.Logger
	syncers *syncerSet // called in every commit, before the callbacks
	syncReq atomic.Bool

	txn sync.RWMutex

	mu   sync.Mutex
	room sync.Cond // signalled when the pending list was taken
	ops  []storage.Op
	// inCommit is the list the committer is writing (the pending writes'
	// view, queue_disk.go, reads it with ops).
	inCommit []storage.Op
	cbs      []func(error)
	closed   bool

	wake chan struct{}
	done chan struct{}

	commits  atomic.Uint64
	written  atomic.Uint64
	failures atomic.Uint64
}

func newPersister(st storage.Store, d Durability, log *slog.Logger, sy *syncerSet) *persister {
	p := &persister{st: st, sync: d != DurabilityOS, log: log, syncers: sy, wake: make(chan struct{}, 1), done: make(chan struct{})}
	p.room.L = &p.mu
	go p.run()
	return p
}

// put appends a write of value under key.
func (p *persister) put(key, value []byte) {
	p.add(storage.Op{Key: key, Value: value})
}

// del appends a deletion of key.
func (p *persister) del(key []byte) {
	p.add(storage.Op{Key: key, Delete: true})
}

// delRange appends the deletion of every key in [start, end).
func (p *persister) delRange(start, end []byte) {
	p.add(storage.Op{Key: start, End: end, Delete: true})
}

func (p *persister) add(op storage.Op) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.ops = append(p.ops, op)
	p.mu.Unlock()
	if p.syncers != nil {
		p.syncers.appends.Add(1)
	}
	p.signal()
}

// after runs cb once every write appended before it is committed (err is
// the commit's error). Callbacks run in the order they were added, on the
// committer goroutine, with no lock held.
func (p *persister) after(cb func(error)) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		cb(storage.ErrClosed)
		return
	}
	p.cbs = append(p.cbs, cb)
	p.mu.Unlock()
	p.signal()
}

// wait blocks until every write appended before it is committed.
func (p *persister) wait() error {
	ch := make(chan error, 1)
	p.after(func(err error) { ch <- err })
	return <-ch
}

// throttle blocks while the committer is behind (back-pressure for the
// publisher's read loop). It must not be called with txn held.
func (p *persister) throttle() {
	p.mu.Lock()
	for len(p.ops) >= maxPendingOps && !p.closed {
		p.room.Wait()
	}
	p.mu.Unlock()
}

// begin starts a group of writes that must be committed together (a QoS 2
// publish); the returned func ends it.
func (p *persister) begin() func() {
	p.txn.RLock()
	return p.txn.RUnlock
}

// requestSync asks for a commit cycle (which syncs the Syncers) even when
// nothing else is pending.
func (p *persister) requestSync() {
	p.syncReq.Store(true)
	p.signal()
}

func (p *persister) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run is the committer goroutine.
func (p *persister) run() {
	defer close(p.done)
	var spareOps []storage.Op
	var spareCbs []func(error)
	for {
		p.txn.Lock()
		p.mu.Lock()
		ops, cbs, closed := p.ops, p.cbs, p.closed
		idle := len(ops) == 0 && len(cbs) == 0 && !p.syncReq.Swap(false)
		if !idle {
			p.ops, p.cbs, p.inCommit = spareOps, spareCbs, ops
			p.room.Broadcast()
			if p.syncers != nil {
				p.syncers.stage() // with the snapshot: see Stager
			}
		}
		p.mu.Unlock()
		p.txn.Unlock()
		if idle {
			if closed {
				return
			}
			<-p.wake
			continue
		}
		// The Syncers first, then the store: a record in the store (an
		// edge's dedup mark, written with the messages it stands for)
		// must never be durable before the queued records of the same
		// commit, or the message's resend would be dropped with its
		// bridge record lost.
		var err error
		if p.syncers != nil {
			if err = p.syncers.sync(p.sync || closed); err != nil {
				p.failures.Add(1)
				p.log.Error("durable queue sync failed; acknowledgements withheld", "error", err)
			}
		}
		// A failed Sync withholds the acknowledgements of its commit, not
		// its writes: they stay pending, ahead of the newer ones, for the
		// next commit whose Sync succeeds (the store is still written only
		// after a good Sync). Dropped, they were lost with whatever had
		// left memory for them: a lost node's session adopted in that
		// moment keeps its backlog only in its queue records (queue_disk.go),
		// and every acknowledged message of it was gone (docs/cluster.md,
		// "Node loss"). The pending list stays bounded (throttle).
		kept := err != nil && !closed && len(ops) > 0
		if err == nil {
			err = p.commit(ops, p.sync || closed)
		}
		p.mu.Lock()
		p.inCommit = nil
		if kept {
			p.ops = append(ops, p.ops...) // keeps what the pending view shows
		}
		p.mu.Unlock()
		for _, cb := range cbs {
			cb(err)
		}
		clear(cbs)
		spareCbs = cbs[:0]
		if kept {
			spareOps = nil
			time.Sleep(syncRetryDelay) // a Syncer failing at once must not spin this loop
			continue
		}
		clear(ops)
		spareOps = ops[:0]
		if cap(spareOps) > 4*maxPendingOps {
			spareOps = nil
		}
	}
}

// syncRetryDelay spaces the commits after a failed Sync, whose writes are
// committed again with the next one.
const syncRetryDelay = 100 * time.Millisecond

func (p *persister) commit(ops []storage.Op, sync bool) error {
	if len(ops) == 0 {
		return nil
	}
	err := p.st.Apply(&storage.Batch{Ops: ops}, sync)
	if err != nil {
		p.failures.Add(1)
		p.log.Error("store commit failed; acknowledgements withheld", "writes", len(ops), "error", err)
		return err
	}
	p.commits.Add(1)
	p.written.Add(uint64(len(ops)))
	return nil
}

// close commits what is pending (synced) and stops the committer.
func (p *persister) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.room.Broadcast()
	p.mu.Unlock()
	p.signal()
	<-p.done
}

// Keys. Client ids cannot contain U+0000 (MQTT forbids it in strings), so
// a zero byte ends the id and the fixed-size suffix follows.
const (
	prefixSession  = "s/"
	prefixQueue    = "q/"
	prefixRetained = "r/"
	prefixInQoS2   = "i/"
)

func sessionKey(id string) []byte { return append([]byte(prefixSession), id...) }

func retainedKey(t string) []byte { return append([]byte(prefixRetained), t...) }

func queueKey(id string, seq uint64) []byte {
	k := make([]byte, 0, len(prefixQueue)+len(id)+9)
	k = append(append(append(k, prefixQueue...), id...), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func inQoS2Key(id string, pid uint16) []byte {
	k := make([]byte, 0, len(prefixInQoS2)+len(id)+3)
	k = append(append(append(k, prefixInQoS2...), id...), 0)
	return binary.BigEndian.AppendUint16(k, pid)
}

// splitKey returns the client id and the suffix of a q/ or i/ key.
func splitKey(k []byte, prefix string, suffix int) (string, []byte, bool) {
	n := len(k) - suffix - 1
	if n < len(prefix) || k[n] != 0 {
		return "", nil, false
	}
	return string(k[len(prefix):n]), k[n+1:], true
}

// PersistStats reports the store write path (zero without a store).
type PersistStats struct {
	// Commits is the number of batches written, Writes the puts and
	// deletes they held, Failures the batches the store refused.
	Commits, Writes, Failures uint64
}

// PersistStats returns the store write path's counters.
func (s *Server) PersistStats() PersistStats {
	p := s.pstore()
	if p == nil {
		return PersistStats{}
	}
	return PersistStats{Commits: p.commits.Load(), Writes: p.written.Load(), Failures: p.failures.Load()}
}

// closePersister commits pending writes; called by Shutdown once every
// connection is closed.
func (s *Server) closePersister() {
	if p := s.pstore(); p != nil {
		p.close()
	}
	if p := s.syncp.Load(); p != nil {
		p.close()
	}
}

// pstore returns the store's write path, nil without a store. It is set
// once, by New or OpenStore, possibly while $SYS publishing runs.
func (s *Server) pstore() *persister {
	return s.pstp.Load()
}

// ageOut returns how long is left of d counted from since (never negative).
func ageOut(since time.Time, d time.Duration, now time.Time) time.Duration {
	return max(since.Add(d).Sub(now), 0)
}
