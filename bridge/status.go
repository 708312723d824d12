package bridge

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// statusKeeper holds the Status of a sink runner or a source runner and
// changes it by one set of rules:
//   - a nil outcome means connected, except that a successful health check
//     does not end a rebalance (only the source's own report does);
//   - ErrRebalancing means rebalancing;
//   - any other error means disconnected, with that error — unless it is a
//     context error and the connection itself reported an error within
//     keepFor: that one says why, and stays;
//   - once stopped, nothing changes it.
//
// State changes are logged. It is safe for concurrent use.
type statusKeeper struct {
	log     *slog.Logger
	keepFor time.Duration

	mu       sync.Mutex
	st       Status
	reported time.Time // when the connection last reported an error itself
}

func newStatusKeeper(log *slog.Logger, keepFor time.Duration) *statusKeeper {
	return &statusKeeper{log: log, keepFor: keepFor, st: Status{State: StateConnecting, Since: time.Now()}}
}

// outcome says where a status change comes from.
type outcome int

const (
	fromSend   outcome = iota // a send, or a source's run
	fromHealth                // an idle health check
	fromReport                // the connection's own report (StatusReporter)
)

// set records err, an outcome of kind from.
func (k *statusKeeper) set(err error, from outcome) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.st.State == StateStopped {
		return
	}
	now := time.Now()
	state := StateConnected
	switch {
	case errors.Is(err, ErrRebalancing):
		state = StateRebalancing
	case err != nil:
		state = StateDisconnected
		vague := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
		if !vague || k.st.LastError == "" || now.Sub(k.reported) > k.keepFor {
			k.st.LastError = err.Error()
		}
		k.st.LastErrorAt = now
		if from == fromReport {
			k.reported = now
		}
	case from == fromHealth && k.st.State == StateRebalancing:
		state = StateRebalancing
	}
	if state == k.st.State {
		return
	}
	k.st.State, k.st.Since = state, now
	switch state {
	case StateDisconnected:
		k.log.Warn("bridge disconnected", "error", k.st.LastError)
	case StateRebalancing:
		k.log.Info("bridge rebalancing")
	default:
		k.log.Info("bridge connected")
	}
}

// get returns the status.
func (k *statusKeeper) get() Status {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.st
}

// stop marks the runner stopped for good, keeping the last error.
func (k *statusKeeper) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.st = Status{State: StateStopped, Since: time.Now(), LastError: k.st.LastError, LastErrorAt: k.st.LastErrorAt}
}
