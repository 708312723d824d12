package bridge

import "github.com/iothub-dev/iothub/bridge/diskqueue"

// chunkLen is the number of entries in one chunk of a recQueue.
const chunkLen = 256

// entry is a record of the memory queue with its place in the disk
// queue: end is the position after it (Seq is its sequence number + 1).
type entry struct {
	rec Record
	end diskqueue.Position
}

// recChunk is a fixed block of a recQueue: entries [r, w) are queued.
type recChunk struct {
	ents [chunkLen]entry
	r, w int
}

// recQueue is the memory queue: a FIFO of entries in fixed chunks, so
// that pushing and taking never copy the queued records (a plain slice
// taken from the front re-allocates and copies the whole queue every
// time its capacity runs out). One spare chunk is kept for reuse. It is
// not safe for concurrent use (the Runner's mutex guards it).
type recQueue struct {
	chunks []*recChunk
	n      int
	spare  *recChunk
}

// len returns the number of queued entries.
func (q *recQueue) len() int { return q.n }

// push appends e.
func (q *recQueue) push(e entry) {
	var c *recChunk
	if k := len(q.chunks); k > 0 && q.chunks[k-1].w < chunkLen {
		c = q.chunks[k-1]
	} else {
		c = q.newChunk()
		q.chunks = append(q.chunks, c)
	}
	c.ents[c.w] = e
	c.w++
	q.n++
}

func (q *recQueue) newChunk() *recChunk {
	if c := q.spare; c != nil {
		q.spare = nil
		return c
	}
	return new(recChunk)
}

// first returns the oldest entry; the queue must not be empty.
func (q *recQueue) first() *entry {
	c := q.chunks[0]
	return &c.ents[c.r]
}

// peekSize returns how many entries from the head fit in maxRecs and
// about maxBytes (at least one).
func (q *recQueue) peekSize(maxRecs, maxBytes int) (n int) {
	size := 0
	for _, c := range q.chunks {
		for i := c.r; i < c.w; i++ {
			if n >= maxRecs || (n > 0 && size >= maxBytes) {
				return n
			}
			size += c.ents[i].rec.size()
			n++
		}
	}
	return n
}

// take removes the first n entries, appending their records and end
// positions to recs and ends, and returns them with the records' size.
func (q *recQueue) take(recs []Record, ends []diskqueue.Position, n int) ([]Record, []diskqueue.Position, int) {
	size := 0
	q.pop(n, func(run []entry) {
		for i := range run {
			recs = append(recs, run[i].rec)
			ends = append(ends, run[i].end)
			size += run[i].rec.size()
		}
	})
	return recs, ends, size
}

// discard removes the first n entries and returns their size.
func (q *recQueue) discard(n int) (size int) {
	q.pop(n, func(run []entry) {
		for i := range run {
			size += run[i].rec.size()
		}
	})
	return size
}

// pop removes the first n entries, showing f each run of them (within
// one chunk, in order) before it is cleared.
func (q *recQueue) pop(n int, f func(run []entry)) {
	for n > 0 && len(q.chunks) > 0 {
		c := q.chunks[0]
		m := min(n, c.w-c.r)
		run := c.ents[c.r : c.r+m]
		f(run)
		clear(run)
		c.r += m
		q.n -= m
		n -= m
		if c.r == c.w {
			q.chunks[0] = nil
			q.chunks = q.chunks[1:]
			c.r, c.w = 0, 0
			q.spare = c
		}
	}
	if len(q.chunks) == 0 {
		q.chunks = nil
	}
}
