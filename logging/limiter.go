package logging

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// SuppressedKey is the attribute that carries, on a line a Limiter let
// through, the number of lines it sent to Debug since the previous one.
const SuppressedKey = "suppressed"

// Limiter lets one line per Interval through at the caller's level and
// sends the others to Debug, counting them: the next line let through says
// how many were suppressed. The zero value is ready (one line a second).
type Limiter struct {
	// Interval is the least time between two lines let through (0: one
	// second). Set it before first use.
	Interval time.Duration

	next       atomic.Int64 // unix nanoseconds of the next line let through
	suppressed atomic.Uint64
}

// Allow reports whether a line may go out at its own level now, and how
// many lines were suppressed since the last one that did. A false answer
// counts the caller's line as suppressed.
func (l *Limiter) Allow() (suppressed uint64, ok bool) {
	now := time.Now().UnixNano()
	next := l.next.Load()
	interval := l.Interval
	if interval <= 0 {
		interval = time.Second
	}
	if now < next || !l.next.CompareAndSwap(next, now+int64(interval)) {
		l.suppressed.Add(1)
		return 0, false
	}
	return l.suppressed.Swap(0), true
}

// Level says at which level the caller's next line goes: level when the
// limiter lets it through (with the number suppressed), Debug otherwise.
// ok is false when lg would discard the line at that level, so a hot path
// can skip building its attributes.
func (l *Limiter) Level(lg *slog.Logger, level slog.Level) (at slog.Level, suppressed uint64, ok bool) {
	n, allowed := l.Allow()
	if allowed {
		return level, n, lg.Enabled(context.Background(), level)
	}
	return slog.LevelDebug, 0, lg.Enabled(context.Background(), slog.LevelDebug)
}

// Log writes msg with args at level when the limiter lets it through
// (adding SuppressedKey), at Debug otherwise.
func (l *Limiter) Log(lg *slog.Logger, level slog.Level, msg string, args ...any) {
	at, n, ok := l.Level(lg, level)
	if !ok {
		return
	}
	if at == level {
		args = append(args, SuppressedKey, n)
	}
	lg.Log(context.Background(), at, msg, args...)
}

// Warn is Log at Warn.
func (l *Limiter) Warn(lg *slog.Logger, msg string, args ...any) {
	l.Log(lg, slog.LevelWarn, msg, args...)
}
