package netpoll

import "errors"

// Waker is told that an armed connection needs its reader again. A
// Poller holds Wakers of one type (a pointer, typically): 8 bytes per
// descriptor in its table, where an interface value takes 16.
type Waker interface {
	comparable
	// Wake is called at most once per Arm, on the poller's goroutine: it
	// must not block (start a goroutine for the work).
	Wake()
}

// ErrClosed is returned by Arm after Close.
var ErrClosed = errors.New("netpoll: poller closed")
