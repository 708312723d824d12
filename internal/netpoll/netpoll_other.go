//go:build !linux

package netpoll

import (
	"errors"
	"syscall"
)

// Poller is unavailable on this system: New always fails.
type Poller struct{}

// New reports that this system has no epoll.
func New() (*Poller, error) { return nil, errors.ErrUnsupported }

// Arm is never reached: New fails.
func (p *Poller) Arm(rc syscall.RawConn, w Waker) error { return errors.ErrUnsupported }

// Disarm does nothing.
func (p *Poller) Disarm(rc syscall.RawConn, w Waker) {}

// Armed returns 0.
func (p *Poller) Armed() int { return 0 }

// Close does nothing.
func (p *Poller) Close() error { return nil }
