//go:build !linux

package netpoll

import (
	"errors"
	"syscall"
)

// Poller is unavailable on this system: New always fails.
type Poller[W Waker] struct{}

// New reports that this system has no epoll.
func New[W Waker]() (*Poller[W], error) { return nil, errors.ErrUnsupported }

// Arm is never reached: New fails.
func (p *Poller[W]) Arm(rc syscall.RawConn, w W) error { return errors.ErrUnsupported }

// Disarm does nothing.
func (p *Poller[W]) Disarm(rc syscall.RawConn, w W) {}

// Armed returns 0.
func (p *Poller[W]) Armed() int { return 0 }

// Close does nothing.
func (p *Poller[W]) Close() error { return nil }
