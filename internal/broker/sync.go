package broker

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Syncer holds writes made outside the store that acknowledgements depend
// on: a bridge's durable queue, appended to while the rules handle a QoS
// 1/2 message on its publisher's goroutine (InlineEventHandler). The
// broker's committer calls Sync in every group commit, before the store's
// batch and the acknowledgements that waited for that commit, so a
// PUBACK goes out only once what the rules appended is as durable as the
// store's writes (storage.durability). With no store configured, the
// acknowledgements that follow an append still wait for one Sync.
type Syncer interface {
	// Sync makes every append made before the call durable: handed to the
	// operating system, and when durable is true also flushed to the disk
	// (fsync). It is called from one goroutine at a time, with no broker
	// lock held. An error withholds the acknowledgements (the connections
	// that waited are closed, as for a failed store commit; the clients
	// send again).
	Sync(durable bool) error
}

// Stager is a late Syncer (AddLateSyncer) that needs to know which of
// its writes belong to which commit: Stage is called by the committer
// at the moment it takes the store writes of a commit, with the
// committer's lock held, so whatever the Stager recorded before (after
// the store writes it depends on were made) is what the commit's Sync
// must write. Stage must be quick and must not call the broker.
type Stager interface {
	Stage()
}

// syncerSet is the server's Syncers, and how many sync requests (appends)
// were made and how many a successful Sync covered: while they differ,
// acknowledgements wait for a Sync. The late ones are synced after the
// others.
type syncerSet struct {
	mu        sync.Mutex // serialises add and remove
	list      atomic.Pointer[[]Syncer]
	late      atomic.Pointer[[]Syncer]
	requested atomic.Uint64
	synced    atomic.Uint64
	// appends counts every write an acknowledgement may depend on: the
	// store's puts and deletes and the Syncers' appends. A publish during
	// which it did not move appended nothing, and its acknowledgement need
	// not wait for a commit (conn.ackAfterCommit).
	appends atomic.Uint64
}

// sync calls every Syncer. A request made before the call is covered once
// every Syncer succeeded; a failed Sync leaves it pending, so that an
// acknowledgement queued after the failure still waits for a good Sync.
func (ss *syncerSet) sync(durable bool) error {
	p := ss.list.Load()
	if p == nil {
		return nil
	}
	upTo := ss.requested.Load()
	var err error
	for _, s := range *p {
		err = errors.Join(err, s.Sync(durable))
	}
	if l := ss.late.Load(); l != nil && err == nil {
		for _, s := range *l {
			err = errors.Join(err, s.Sync(durable))
		}
	}
	if err == nil {
		for cur := ss.synced.Load(); cur < upTo && !ss.synced.CompareAndSwap(cur, upTo); cur = ss.synced.Load() {
		}
	}
	return err
}

// pending reports whether a sync request is not covered yet.
func (ss *syncerSet) pending() bool { return ss.requested.Load() != ss.synced.Load() }

// AddSyncer registers sy with the committer. The returned request function
// is called by the owner of sy after each append: it marks the server's
// acknowledgements as depending on a Sync and wakes the committer, so an
// append that no acknowledgement waits for (a rule on acked events) is
// also synced at once. remove unregisters sy.
func (s *Server) AddSyncer(sy Syncer) (request, remove func()) {
	ss := &s.syncers
	ss.mu.Lock()
	old := ss.list.Load()
	var next []Syncer
	if old != nil {
		next = append(next, *old...)
	}
	next = append(next, sy)
	ss.list.Store(&next)
	if s.pstore() == nil && s.syncp.Load() == nil {
		d := s.opts.Durability
		if d == "" {
			d = DurabilityFsync
		}
		s.syncp.Store(newPersister(nil, d, s.log.With("component", "sync"), ss))
	}
	ss.mu.Unlock()
	var once sync.Once
	return s.requestSync, func() {
		once.Do(func() {
			ss.mu.Lock()
			defer ss.mu.Unlock()
			ss.list.Store(without(ss.list.Load(), sy))
		})
	}
}

// without returns a copy of *list without sy.
func without(list *[]Syncer, sy Syncer) *[]Syncer {
	var next []Syncer
	if list != nil {
		next = make([]Syncer, 0, len(*list))
		for _, x := range *list {
			if x != sy {
				next = append(next, x)
			}
		}
	}
	return &next
}

// AddLateSyncer is AddSyncer for a Syncer whose writes must not become
// durable before those of every other Syncer in the same commit (the edge
// dedup marks: a mark written before the message it records would drop
// the message's resend). It is synced after the others, and not at all
// when one of them failed.
func (s *Server) AddLateSyncer(sy Syncer) (request, remove func()) {
	request, remove = s.AddSyncer(sy)
	ss := &s.syncers
	ss.mu.Lock()
	ss.moveLate(sy)
	ss.mu.Unlock()
	var once sync.Once
	return request, func() {
		once.Do(func() {
			remove()
			ss.mu.Lock()
			defer ss.mu.Unlock()
			ss.late.Store(without(ss.late.Load(), sy))
		})
	}
}

// moveLate moves sy from the list to the late list; ss.mu is held.
func (ss *syncerSet) moveLate(sy Syncer) {
	ss.list.Store(without(ss.list.Load(), sy))
	var late []Syncer
	if l := ss.late.Load(); l != nil {
		late = append(late, *l...)
	}
	late = append(late, sy)
	ss.late.Store(&late)
}

// stage calls Stage on the late Syncers that are Stagers; the committer
// calls it under its lock, with the snapshot of a commit's writes.
func (ss *syncerSet) stage() {
	if l := ss.late.Load(); l != nil {
		for _, s := range *l {
			if st, ok := s.(Stager); ok {
				st.Stage()
			}
		}
	}
}

// requestSync marks acknowledgements as depending on a Sync and wakes the
// committer.
func (s *Server) requestSync() {
	s.syncers.appends.Add(1)
	s.syncers.requested.Add(1)
	if p := s.acks(); p != nil {
		p.requestSync()
	}
}

// acks returns the committer that acknowledgements wait for: the store's,
// or without a store the Syncers' own while an append waits for a Sync;
// nil when nothing needs to be waited for.
func (s *Server) acks() *persister {
	if p := s.pstore(); p != nil {
		return p
	}
	if s.syncers.pending() {
		return s.syncp.Load()
	}
	return nil
}
