package bridge

// chunkLen is the number of records in one chunk of a recQueue.
const chunkLen = 256

// recChunk is a fixed block of a recQueue: records [r, w) are queued.
type recChunk struct {
	recs [chunkLen]Record
	r, w int
}

// recQueue is the memory queue: a FIFO of records in fixed chunks, so
// that pushing and taking never copy the queued records (a plain slice
// taken from the front re-allocates and copies the whole queue every
// time its capacity runs out). One spare chunk is kept for reuse. It is
// not safe for concurrent use (the Runner's mutex guards it).
type recQueue struct {
	chunks []*recChunk
	n      int
	spare  *recChunk
}

// len returns the number of queued records.
func (q *recQueue) len() int { return q.n }

// push appends recs.
func (q *recQueue) push(recs ...Record) {
	for len(recs) > 0 {
		var c *recChunk
		if k := len(q.chunks); k > 0 && q.chunks[k-1].w < chunkLen {
			c = q.chunks[k-1]
		} else {
			c = q.newChunk()
			q.chunks = append(q.chunks, c)
		}
		m := copy(c.recs[c.w:], recs)
		c.w += m
		q.n += m
		recs = recs[m:]
	}
}

func (q *recQueue) newChunk() *recChunk {
	if c := q.spare; c != nil {
		q.spare = nil
		return c
	}
	return new(recChunk)
}

// peekSize returns how many records from the head fit in maxRecs and
// about maxBytes (at least one), and their size.
func (q *recQueue) peekSize(maxRecs, maxBytes int) (n, size int) {
	for _, c := range q.chunks {
		for i := c.r; i < c.w; i++ {
			if n >= maxRecs || (n > 0 && size >= maxBytes) {
				return n, size
			}
			size += c.recs[i].size()
			n++
		}
	}
	return n, size
}

// take removes the first n records and appends them to dst.
func (q *recQueue) take(dst []Record, n int) []Record {
	q.pop(n, func(run []Record) { dst = append(dst, run...) })
	return dst
}

// eachN calls f for the first n queued records, in order.
func (q *recQueue) eachN(n int, f func(*Record)) {
	for _, c := range q.chunks {
		for i := c.r; i < c.w && n > 0; i++ {
			f(&c.recs[i])
			n--
		}
	}
}

// discard removes the first n records and returns their size.
func (q *recQueue) discard(n int) (size int) {
	q.pop(n, func(run []Record) {
		for i := range run {
			size += run[i].size()
		}
	})
	return size
}

// pop removes the first n records, showing f each run of them (within one
// chunk, in order) before it is cleared.
func (q *recQueue) pop(n int, f func(run []Record)) {
	for n > 0 && len(q.chunks) > 0 {
		c := q.chunks[0]
		m := min(n, c.w-c.r)
		run := c.recs[c.r : c.r+m]
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
