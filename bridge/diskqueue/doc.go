// Package diskqueue is the durable FIFO behind every bridge's outage
// buffer: records (opaque byte strings) appended to segment files in one
// directory, read back in order, and dropped once committed.
//
// # Files
//
// A queue directory holds segment files named by a 20-digit number
// ("00000000004294967296.seg") and a "cursor" file. A segment is a
// sequence of frames: a 4-byte big-endian payload length, the CRC-32C
// (Castagnoli) of the payload, 4 bytes big-endian, then the payload. The
// cursor file holds the committed read position (segment number and
// offset) and its CRC-32C; segments before it are deleted. Open scans
// every segment from the cursor, counts the records and truncates a torn
// or corrupt tail (a crash in the middle of a write), so a restart resumes
// exactly where the last commit left off. A record read but not committed
// before a crash is read again (at least once).
//
// # Bounds and durability
//
// MaxBytes bounds the unread bytes on disk. When an append would exceed
// it, FullPolicy decides: drop_oldest advances the read position past the
// oldest records (counted in Dropped), refuse fails the append with
// ErrFull. Fsync says when data reaches the disk: always (after every
// append and commit), interval (every FsyncInterval) or never (when the
// operating system decides). Every append is one write system call, so a
// killed process (kill -9) loses nothing with any policy; the policy only
// matters for a power failure.
//
// # Concurrency
//
// A Queue is safe for concurrent use; one mutex serialises its methods,
// except that Flush and the interval policy fsync with it released, so
// appends go on while the disk flushes (they wait for the next Flush).
// ReadFrom lets one reader read ahead of its commits (a pipeline of
// batches in flight), committing them in order.
// A directory must be opened by one Queue at a time.
package diskqueue
