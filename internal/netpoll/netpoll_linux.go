//go:build linux

package netpoll

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// waitBatch is how many readiness events one epoll_wait returns at most.
const waitBatch = 256

// armEvents are the conditions that wake an armed connection: bytes to
// read, the peer's FIN, errors and hang-ups (the last two are always
// reported), once per arming.
const armEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// Poller is one epoll set and the goroutine waiting on it.
type Poller[W Waker] struct {
	epfd int
	// file holds epfd in Go's own poller, so that the wait loop is an
	// ordinary goroutine woken by the scheduler in the same pass as the
	// read loops of busy connections, not a thread blocked in epoll_wait
	// that needs a free P when it returns (a quiet connection's first
	// packet then waited behind busier ones). nil: that failed, and the
	// loop blocks in epoll_wait.
	file *os.File
	rc   syscall.RawConn
	// stopfd is an eventfd in the set; writing to it ends the wait loop.
	stopfd int
	done   chan struct{}

	mu     sync.Mutex
	armed  fdTable[W] // by file descriptor
	closed bool
}

// New creates a poller and starts its goroutine.
func New[W Waker]() (*Poller[W], error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	stopfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(stopfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, stopfd, &ev); err != nil {
		_ = unix.Close(stopfd)
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: epoll_ctl eventfd: %w", err)
	}
	p := &Poller[W]{epfd: epfd, stopfd: stopfd, done: make(chan struct{})}
	if unix.SetNonblock(epfd, true) == nil {
		p.file = os.NewFile(uintptr(epfd), "netpoll")
		if rc, err := p.file.SyscallConn(); err == nil {
			p.rc = rc
		}
	}
	go p.run()
	return p, nil
}

// Arm asks for w.Wake once rc's socket is readable, hung up or failed. If
// it already is, the wake comes at once. rc must not be armed already.
func (p *Poller[W]) Arm(rc syscall.RawConn, w W) error {
	var armErr error
	err := rc.Control(func(fd uintptr) {
		key := int32(fd)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			armErr = ErrClosed
			return
		}
		p.armed.set(key, w)
		ev := unix.EpollEvent{Events: armEvents, Fd: key}
		armErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
		if errors.Is(armErr, unix.EEXIST) {
			armErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
		}
		if armErr != nil {
			p.armed.take(key)
			armErr = fmt.Errorf("netpoll: epoll_ctl: %w", armErr)
		}
	})
	if err != nil {
		return fmt.Errorf("netpoll: arm: %w", err)
	}
	return armErr
}

// Disarm withdraws w's arming of rc, if it has not fired yet. Call it
// before closing the socket: a closed socket has no descriptor to find.
func (p *Poller[W]) Disarm(rc syscall.RawConn, w W) {
	_ = rc.Control(func(fd uintptr) {
		key := int32(fd)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return
		}
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		if p.armed.get(key) == w {
			p.armed.take(key)
		}
	})
}

// Armed returns how many connections are armed now.
func (p *Poller[W]) Armed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.armed.n
}

// Close stops the poller. Armed connections are not woken: their owner
// closes them (Disarm after Close is a no-op).
func (p *Poller[W]) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	if _, err := unix.Write(p.stopfd, one); err != nil {
		return fmt.Errorf("netpoll: stop: %w", err)
	}
	<-p.done
	p.mu.Lock()
	p.armed = fdTable[W]{}
	p.mu.Unlock()
	_ = unix.Close(p.stopfd)
	if p.file != nil {
		return p.file.Close()
	}
	return unix.Close(p.epfd)
}

// run waits for readiness and wakes the armed connections until Close.
func (p *Poller[W]) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, waitBatch)
	for {
		n, err := p.wait(events)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return // EBADF and friends: the set is gone
		}
		for i := range events[:n] {
			if events[i].Fd == int32(p.stopfd) {
				return
			}
		}
		// Go runs the goroutine started last first (and the others in
		// order): starting the first event's last keeps arrival order.
		for i := 1; i < n; i++ {
			p.wake(events[i].Fd)
		}
		if n > 0 {
			p.wake(events[0].Fd)
		}
	}
}

// wait returns the next readiness events: through Go's poller when epfd
// is in it, else blocking in epoll_wait.
func (p *Poller[W]) wait(events []unix.EpollEvent) (int, error) {
	if p.rc == nil {
		return unix.EpollWait(p.epfd, events, -1)
	}
	var n int
	var werr error
	err := p.rc.Read(func(fd uintptr) bool {
		n, werr = unix.EpollWait(int(fd), events, 0)
		return n > 0 || werr != nil && !errors.Is(werr, unix.EINTR)
	})
	if err != nil {
		// Not pollable after all: block in epoll_wait from now on.
		p.rc = nil
		return 0, nil //nolint:nilerr // the caller loops and waits again, now in epoll_wait
	}
	return n, werr
}

// wake hands one readiness event to the connection armed on fd, if any
// (a stale event for a descriptor disarmed meanwhile finds none, or finds
// the descriptor's next owner, which then sees a harmless early wake).
func (p *Poller[W]) wake(fd int32) {
	p.mu.Lock()
	w, ok := p.armed.take(fd)
	p.mu.Unlock()
	if ok {
		w.Wake()
	}
}

// fdTable holds the armed Wakers by file descriptor: a slice indexed by
// the descriptor (descriptors are small and dense), 8 bytes per
// descriptor up to the highest armed one for a pointer W, where a map
// cost ~46 bytes per armed connection (docs/design.md: "The connection:
// no goroutine while idle"). The zero W stands for none. Guarded by
// Poller.mu.
type fdTable[W Waker] struct {
	w []W
	n int // non-zero entries
}

// fdTableStep rounds the table's growth, so that arming descriptor after
// descriptor does not copy it each time.
const fdTableStep = 1024

// set arms fd for w.
func (t *fdTable[W]) set(fd int32, w W) {
	if fd < 0 {
		return
	}
	if int(fd) >= len(t.w) {
		n := max(int(fd)+1, len(t.w)+len(t.w)/4)
		n = (n + fdTableStep - 1) / fdTableStep * fdTableStep
		grown := make([]W, n)
		copy(grown, t.w)
		t.w = grown
	}
	var none W
	if t.w[fd] == none {
		t.n++
	}
	t.w[fd] = w
}

// get returns the Waker armed on fd (the zero W: none).
func (t *fdTable[W]) get(fd int32) W {
	var none W
	if fd < 0 || int(fd) >= len(t.w) {
		return none
	}
	return t.w[fd]
}

// take removes and returns the Waker armed on fd; false: none.
func (t *fdTable[W]) take(fd int32) (W, bool) {
	var none W
	w := t.get(fd)
	if w == none {
		return none, false
	}
	t.w[fd] = none
	t.n--
	return w, true
}
