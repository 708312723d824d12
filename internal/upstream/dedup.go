package upstream

import (
	"bufio"
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/iothub-dev/iothub/msg"
	"github.com/iothub-dev/iothub/storage"
)

// Dedup is the centre's memory of what edges forwarded: for each (link
// client id, queue epoch) the highest sequence number routed. A message
// whose number is not above it is a resend (its PUBACK was lost, or the
// edge restarted before it was acknowledged) and is dropped before
// routing, so subscribers, rules and bridges see it once. Edges send each
// queue in order on one connection, so one number per queue is the whole
// window. The key holds the publisher's client id: a device that forges
// the properties only shadows its own messages.
//
// With the hub's store the marks are records in it, written in the same
// atomic batch as the routed message's own store writes, after the
// bridge queues of that commit (broker.Deduplicator.Routed): a restarted
// centre drops exactly the resends of what it had stored. Without a store
// they are kept in a file, appended to by Sync in the broker's group
// commit after the queues of the messages (a late broker.Syncer).
type Dedup struct {
	store storage.Store // nil: the file at path ("" too: memory only)
	path  string
	max   int
	log   *slog.Logger

	mu      sync.Mutex
	entries map[string]*list.Element // of *mark
	lru     list.List                // front: most recently used
	dirty   map[string]uint64        // marks of messages routed since the last Sync
	due     map[string]uint64        // marks the next Sync writes
	f       *os.File
	lines   int

	request func() // asks the broker's committer for a Sync

	checked, hits, evicted atomic.Uint64
}

// SetRequestSync sets the function Duplicate calls after recording a
// mark, so that the broker's next group commit writes it.
func (d *Dedup) SetRequestSync(f func()) { d.request = f }

type mark struct {
	key string
	seq uint64
}

// DedupFile is the marks' file in the data directory (hubs without a
// store).
const DedupFile = "edges-dedup.log"

// dedupPrefix starts the marks' keys in the store.
const dedupPrefix = "edges/dedup/"

// OpenDedup loads the marks kept in store, or without one in dataDir
// ("" too: in memory only).
func OpenDedup(store storage.Store, dataDir string, maxOrigins int, log *slog.Logger) (*Dedup, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &Dedup{store: store, max: max(1, maxOrigins), log: log, entries: map[string]*list.Element{}, dirty: map[string]uint64{},
		due: map[string]uint64{}}
	if store != nil {
		err := store.Scan([]byte(dedupPrefix), func(k, v []byte) error {
			if seq, err := strconv.ParseUint(string(v), 10, 64); err == nil {
				d.set(string(k[len(dedupPrefix):]), seq)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("edges dedup: %w", err)
		}
		return d, nil
	}
	if dataDir == "" {
		return d, nil
	}
	d.path = filepath.Join(dataDir, DedupFile)
	if err := d.load(); err != nil {
		return nil, err
	}
	if err := d.compact(); err != nil {
		return nil, err
	}
	return d, nil
}

// load reads the file; a torn last line (a crash in a write) is ignored.
func (d *Dedup) load() error {
	b, err := os.ReadFile(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("edges dedup: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		key, seq, ok := parseMarkLine(sc.Text())
		if ok {
			d.set(key, seq)
		}
	}
	return nil
}

// parseMarkLine reads `"<key>" <seq>`.
func parseMarkLine(line string) (string, uint64, bool) {
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return "", 0, false
	}
	key, err := strconv.Unquote(line[:i])
	if err != nil {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(line[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return key, seq, true
}

func appendMark(b []byte, key string, seq uint64) []byte {
	b = strconv.AppendQuote(b, key)
	b = append(b, ' ')
	b = strconv.AppendUint(b, seq, 10)
	return append(b, '\n')
}

// set records key's mark, evicting the least recently used beyond max;
// d.mu is held (or d is not shared yet).
func (d *Dedup) set(key string, seq uint64) {
	if el, ok := d.entries[key]; ok {
		el.Value.(*mark).seq = seq
		d.lru.MoveToFront(el)
		return
	}
	d.entries[key] = d.lru.PushFront(&mark{key: key, seq: seq})
	for d.lru.Len() > d.max {
		old := d.lru.Back()
		d.lru.Remove(old)
		delete(d.entries, old.Value.(*mark).key)
		d.evicted.Add(1)
	}
}

// Identity returns a forwarded message's origin and sequence properties
// ("" when it has none).
func Identity(m *msg.Message) (origin, seq string) {
	for _, u := range m.UserProperties {
		switch u.Key {
		case PropOrigin:
			origin = u.Value
		case PropSeq:
			seq = u.Value
		}
	}
	return origin, seq
}

// parseSeq splits "<epoch>:<n>".
func parseSeq(s string) (string, uint64, bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil || n == 0 {
		return "", 0, false
	}
	return s[:i], n, true
}

// Duplicate reports whether m is a resend of a message already routed;
// otherwise it records m as routed. Messages without the properties are
// never duplicates. It implements broker.Deduplicator.
func (d *Dedup) Duplicate(m *msg.Message) bool {
	_, seq := Identity(m)
	if seq == "" {
		return false
	}
	epoch, n, ok := parseSeq(seq)
	if !ok {
		return false
	}
	key := m.ClientID + "\x00" + epoch
	d.checked.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.entries[key]; ok && n <= el.Value.(*mark).seq {
		d.lru.MoveToFront(el)
		d.hits.Add(1)
		return true
	}
	d.set(key, n)
	return false
}

// Routed returns the store record of m's mark (recorded by Duplicate),
// or without a store makes it due for the file; it implements
// broker.Deduplicator.
func (d *Dedup) Routed(m *msg.Message) (key, value []byte) {
	if d.store == nil && d.path == "" {
		return nil, nil
	}
	_, seq := Identity(m)
	epoch, n, ok := parseSeq(seq)
	if !ok {
		return nil, nil
	}
	k := m.ClientID + "\x00" + epoch
	if d.store != nil {
		return []byte(dedupPrefix + k), strconv.AppendUint(nil, n, 10)
	}
	d.mu.Lock()
	if n > d.dirty[k] {
		d.dirty[k] = n
	}
	d.mu.Unlock()
	if d.request != nil {
		d.request()
	}
	return nil, nil
}

// Stage makes the marks of the messages routed so far due for the next
// Sync: the broker calls it as it takes the store writes of a commit,
// which hold those messages (broker.Stager). A mark written before the
// copy of its message would drop the message's resend after a crash (a
// loss); a mark written after the acknowledgement would let the resend
// through (a duplicate): the commit that stores the message writes its
// mark, after the stores and queues and before the acknowledgements.
func (d *Dedup) Stage() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, n := range d.dirty {
		if n > d.due[k] {
			d.due[k] = n
		}
	}
	clear(d.dirty)
}

// Sync appends the staged marks to the file (fsync when durable). It
// implements broker.Syncer.
func (d *Dedup) Sync(durable bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	due := d.due
	d.due = map[string]uint64{}
	if len(due) == 0 {
		return nil
	}
	var b []byte
	for k, n := range due {
		b = appendMark(b, k, n)
	}
	d.lines += len(due)
	clear(due)
	if _, err := d.f.Write(b); err != nil {
		return fmt.Errorf("edges dedup: %w", err)
	}
	if durable {
		if err := d.f.Sync(); err != nil {
			return fmt.Errorf("edges dedup: %w", err)
		}
	}
	if d.lines > 4*len(d.entries)+10000 {
		return d.compactLocked()
	}
	return nil
}

// compact rewrites the file with the current marks only.
func (d *Dedup) compact() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.compactLocked()
}

func (d *Dedup) compactLocked() error {
	var b []byte
	for el := d.lru.Back(); el != nil; el = el.Prev() {
		mk := el.Value.(*mark)
		b = appendMark(b, mk.key, mk.seq)
	}
	tmp := d.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("edges dedup: %w", err)
	}
	if err := os.Rename(tmp, d.path); err != nil {
		return fmt.Errorf("edges dedup: %w", err)
	}
	if d.f != nil {
		_ = d.f.Close()
	}
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("edges dedup: %w", err)
	}
	d.f, d.lines = f, len(d.entries)
	return nil
}

// Close writes what is pending and closes the file.
func (d *Dedup) Close() error {
	d.Stage()
	err := d.Sync(true)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		err = errors.Join(err, d.f.Close())
		d.f = nil
	}
	return err
}

// DedupStats are the centre's counters.
type DedupStats struct {
	// Checked counts forwarded messages looked at.
	Checked uint64 `json:"checked"`
	// Hits counts resends dropped.
	Hits uint64 `json:"hits"`
	// Origins is the number of (link, queue epoch) marks kept.
	Origins int `json:"origins"`
	// Evicted counts marks forgotten to stay within dedup_origins.
	Evicted uint64 `json:"evicted"`
}

// Stats returns the counters.
func (d *Dedup) Stats() DedupStats {
	d.mu.Lock()
	n := len(d.entries)
	d.mu.Unlock()
	return DedupStats{Checked: d.checked.Load(), Hits: d.hits.Load(), Origins: n, Evicted: d.evicted.Load()}
}
