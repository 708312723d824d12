package bridge

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// IDHeader is the header that gives a record an identity: records with
// the same value are copies of one record (the hub's bridge action sets it
// on the records of a message forwarded by an edge hub, from the edge's
// origin and sequence number). A Runner whose sink is a Recoverer queues
// and delivers each identity once, also across a kill -9 of the hub.
const IDHeader = "iothub-id"

// IDSize is the size of an identity: IDHeader's value is 2·IDSize
// hexadecimal digits (other values are no identity).
const IDSize = 16

// recID is an identity, decoded.
type recID [IDSize]byte

// parseID decodes an IDHeader value.
func parseID(v []byte) (recID, bool) {
	var id recID
	if len(v) != 2*IDSize {
		return id, false
	}
	if _, err := hex.Decode(id[:], v); err != nil {
		return id, false
	}
	return id, true
}

// Recoverer is implemented by sinks that can read back the identities
// (IDHeader) of the records they hold last (Kafka: the newest records of
// each partition). After a run that did not close cleanly (a crash), the
// Runner asks for them before its first send, and does not send again a
// record the sink already has: together with the identities of the
// records left in the durable queue, which Enqueue does not queue a
// second time, this makes delivery exactly once for records with an
// identity.
type Recoverer interface {
	// Recover returns the identities among the newest records of the
	// sink: at least the newest `newest` records of each partition of
	// topics (and of the topics the sink writes to whatever the record
	// says). A Permanent error means it cannot (not allowed to read): the
	// Runner goes on without, at least once.
	Recover(ctx context.Context, topics []string, newest int) (map[string]struct{}, error)
}

// recoverSettle is how long a Runner waits after an unclean stop before
// it reads back what the sink holds (recoverDelivered).
const recoverSettle = 2 * time.Second

// dedupMaxIDs bounds the identities a Runner remembers as queued.
const dedupMaxIDs = 1 << 16

// uncleanFile, in the queue's directory, exists while a Runner runs: found
// at start, the last run crashed.
const uncleanFile = "running"

// idSet is a bounded set of identities, the oldest forgotten first.
type idSet struct {
	ids  map[recID]struct{}
	ring []recID
	next int
	full bool // the ring wrapped: ring[next] is the oldest
}

func newIDSet(n int) *idSet { return &idSet{ids: make(map[recID]struct{}), ring: make([]recID, n)} }

// add records id; false when it was there already.
func (s *idSet) add(id recID) bool {
	if _, ok := s.ids[id]; ok {
		return false
	}
	if s.full {
		delete(s.ids, s.ring[s.next])
	}
	s.ring[s.next] = id
	s.next++
	if s.next == len(s.ring) {
		s.next, s.full = 0, true
	}
	s.ids[id] = struct{}{}
	return true
}

// forget removes id (a record that could not be queued after all).
func (s *idSet) forget(id recID) { delete(s.ids, id) }

// recordID returns r's identity (false when it has none).
func recordID(r *Record) (recID, bool) {
	for _, h := range r.Headers {
		if h.Key == IDHeader {
			return parseID(h.Value)
		}
	}
	return recID{}, false
}

// dedupState is a Runner's memory of identities: queued (Enqueue drops a
// record whose identity is there) and, after an unclean stop, the ones
// the sink already holds (the sender does not send them).
type dedupState struct {
	rec     Recoverer
	queued  *idSet
	unclean bool     // the last run crashed, or left records queued
	topics  []string // of the records left in the queue, for Recover
}

// openDedup sets up deduplication when the sink is a Recoverer: it marks
// the directory as in use and, when the last run crashed or left records
// queued, reads the identities of the records left in the durable queue
// (the sender then asks the sink which ones it holds).
func (r *Runner) openDedup() error {
	rc, ok := r.sink.(Recoverer)
	if !ok {
		return nil
	}
	d := &dedupState{rec: rc, queued: newIDSet(dedupMaxIDs)}
	path := filepath.Join(r.o.Dir, uncleanFile)
	if _, err := os.Stat(path); err == nil || r.disk.Len() > 0 {
		// a crash, or a stop with records left (some may have been in
		// flight, with Kafka's answer lost in the stop)
		d.unclean = true
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return fmt.Errorf("bridge %s: %w", r.o.Name, err)
	}
	if d.unclean {
		if err := r.scanQueued(d); err != nil {
			return err
		}
	}
	r.dedup = d
	return nil
}

// scanQueued reads the records left in the durable queue, remembering
// their identities and topics.
func (r *Runner) scanQueued(d *dedupState) error {
	topics := map[string]bool{}
	pos := r.disk.Start()
	for {
		raw, ends, err := r.disk.ReadFrom(pos, 1000, 4<<20)
		if err != nil {
			return fmt.Errorf("bridge %s: reading the queue: %w", r.o.Name, err)
		}
		if len(raw) == 0 {
			break
		}
		pos = ends[len(ends)-1]
		for _, p := range raw {
			rec, err := DecodeRecord(p)
			if err != nil {
				continue
			}
			if id, ok := recordID(&rec); ok {
				d.queued.add(id)
			}
			if !topics[rec.Topic] {
				topics[rec.Topic] = true
				d.topics = append(d.topics, rec.Topic)
			}
		}
	}
	return nil
}

// closeDedup marks a clean stop.
func (r *Runner) closeDedup() error {
	if r.dedup == nil {
		return nil
	}
	if err := os.Remove(filepath.Join(r.o.Dir, uncleanFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bridge %s: %w", r.o.Name, err)
	}
	return nil
}

// forgetQueued forgets the identities of recs, which could not be queued;
// r.mu is held.
func (r *Runner) forgetQueued(recs []Record) {
	if r.dedup == nil {
		return
	}
	for i := range recs {
		if id, ok := recordID(&recs[i]); ok {
			r.dedup.queued.forget(id)
		}
	}
}

// Deduplicates reports whether the runner delivers records with an
// identity (IDHeader) once: its sink is a Recoverer.
func (r *Runner) Deduplicates() bool { return r.dedup != nil }

// dropQueued removes from recs the records whose identity was queued
// already (counted) and remembers the others'; r.mu is held.
func (r *Runner) dropQueued(recs []Record) []Record {
	if r.dedup == nil {
		return recs
	}
	var out []Record
	for i := range recs {
		if id, ok := recordID(&recs[i]); ok && !r.dedup.queued.add(id) {
			if out == nil {
				out = append(make([]Record, 0, len(recs)), recs[:i]...)
			}
			r.deduplicated.Add(1)
			continue
		}
		if out != nil {
			out = append(out, recs[i])
		}
	}
	if out == nil {
		return recs
	}
	return out
}

// recoverDelivered asks the sink, after a crash or a stop that left
// records queued, which identities
// it holds; it retries (with backoff) until it knows, the sink says it
// cannot (the runner then goes on, at least once), or the runner stops.
func (s *sender) recoverDelivered() {
	r := s.r
	d := r.dedup
	if d == nil || !d.unclean {
		return
	}
	newest := 2 * max(r.o.MaxInflightBatches, 1) * r.o.BatchSize
	// Produce requests the crashed run had on the wire may still be
	// appended for a moment after the crash (a broker answers what it
	// already read): read back only once they had that moment, or a
	// record appended after the read-back is sent twice.
	if !r.sleep(recoverSettle) {
		return
	}
	for attempt := 0; r.ctx.Err() == nil; attempt++ {
		ctx, cancel := context.WithTimeout(r.ctx, 3*r.o.SendTimeout)
		ids, err := d.rec.Recover(ctx, d.topics, newest)
		cancel()
		if err == nil {
			s.delivered = make(map[recID]struct{}, len(ids))
			for v := range ids {
				if id, ok := parseID([]byte(v)); ok {
					s.delivered[id] = struct{}{}
				}
			}
			r.log.Info("bridge recovered after an unclean stop: records the sink holds are not sent again",
				"identities", len(ids), "queued", len(d.queued.ids))
			return
		}
		if IsPermanent(err) {
			r.log.Warn("bridge cannot read back what the sink holds: records queued before the crash may be sent twice", "error", err)
			return
		}
		r.setStatus(err)
		r.warn("bridge recovery read failed, will retry", "error", err)
		if !r.sleep(backoff(attempt, r.o.RetryMin, min(r.o.RetryMax, 5*time.Second))) {
			return
		}
	}
}

// unsent returns the records of recs the sink does not hold yet and, when
// some are left out (counted), the index in recs of each one returned.
func (s *sender) unsent(recs []Record) ([]Record, []int) {
	if len(s.delivered) == 0 {
		return recs, nil
	}
	var idx []int
	var out []Record
	for i := range recs {
		if id, ok := recordID(&recs[i]); ok {
			if _, ok := s.delivered[id]; ok {
				if idx == nil {
					idx = make([]int, 0, len(recs))
					for j := range i {
						idx = append(idx, j)
					}
					out = append(make([]Record, 0, len(recs)), recs[:i]...)
				}
				s.r.deduplicated.Add(1)
				continue
			}
		}
		if idx != nil {
			idx = append(idx, i)
			out = append(out, recs[i])
		}
	}
	if idx == nil {
		return recs, nil
	}
	return out, idx
}

// spread maps the result of sending recs[idx[k]] (err) back onto the n
// records of the batch: the records left out were delivered.
func spread(err error, idx []int, n int) error {
	if idx == nil || err == nil {
		return err
	}
	sub := recordErrors(err, len(idx))
	errs := make([]error, n)
	for k, i := range idx {
		errs[i] = sub[k]
	}
	return &BatchError{Errs: errs}
}
