package storage

import "errors"

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("storage: not found")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("storage: closed")

// Store is an ordered key-value store.
type Store interface {
	// Get returns a copy of the value stored under key, or ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Apply writes b atomically. With sync, it returns after the batch is
	// durable (fsync); without, after it is in the OS's buffers. b must not
	// be used after Apply.
	Apply(b *Batch, sync bool) error
	// Scan calls fn for every key with prefix, in key order. key and value
	// are valid only during the call. An error from fn stops the scan and
	// is returned.
	Scan(prefix []byte, fn func(key, value []byte) error) error
	// Range calls fn for every key in [start, end), in key order (end nil:
	// no upper bound), with Scan's rules; an error from fn stops it. A
	// reader that pages through a long run of keys starts where it left
	// off instead of walking the deleted keys before it.
	Range(start, end []byte, fn func(key, value []byte) error) error
	// Close flushes and releases the store.
	Close() error
}

// Op is one operation of a Batch.
type Op struct {
	Key    []byte
	Value  []byte // nil for Delete
	Delete bool
	// End, with Delete, makes the op delete every key in [Key, End).
	End []byte
}

// Batch collects writes applied atomically by Store.Apply.
type Batch struct {
	Ops []Op
}

// Put adds a write of value under key. Key and value are not copied.
func (b *Batch) Put(key, value []byte) { b.Ops = append(b.Ops, Op{Key: key, Value: value}) }

// Delete adds a deletion of key.
func (b *Batch) Delete(key []byte) { b.Ops = append(b.Ops, Op{Key: key, Delete: true}) }

// DeleteRange adds a deletion of every key in [start, end).
func (b *Batch) DeleteRange(start, end []byte) {
	b.Ops = append(b.Ops, Op{Key: start, End: end, Delete: true})
}

// PrefixEnd returns the smallest key greater than every key with prefix
// (nil: there is none, every key from prefix on has it).
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// Len returns the number of operations.
func (b *Batch) Len() int { return len(b.Ops) }

// Reset empties the batch for reuse.
func (b *Batch) Reset() { clear(b.Ops); b.Ops = b.Ops[:0] }
