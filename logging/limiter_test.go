package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimiter_oneLinePerInterval(t *testing.T) {
	tests := []struct {
		name       string
		debug      bool
		wantLines  int
		wantSuffix string
	}{
		{"warn only", false, 1, ""},
		{"debug shows the rest", true, 5, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			level := slog.LevelInfo
			if tc.debug {
				level = slog.LevelDebug
			}
			lg := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
			l := Limiter{Interval: time.Hour}
			for range 5 {
				l.Warn(lg, "dropped", "reason", "queue_full")
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			require.Len(t, lines, tc.wantLines)
			require.Contains(t, lines[0], "level=WARN")
			require.Contains(t, lines[0], "suppressed=0")
			for _, ln := range lines[1:] {
				require.Contains(t, ln, "level=DEBUG")
				require.NotContains(t, ln, "suppressed")
			}
		})
	}
}

func TestLimiter_countsSuppressed(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&buf, nil))
	l := Limiter{Interval: time.Hour}
	l.Warn(lg, "first")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { l.Warn(lg, "again") })
	}
	wg.Wait()
	l.next.Store(0) // the interval is over
	l.Warn(lg, "later")
	require.Contains(t, buf.String(), `msg=later suppressed=10`)
}

func TestLimiter_levelSkipsDisabled(t *testing.T) {
	lg := slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelError}))
	var l Limiter
	_, _, ok := l.Level(lg, slog.LevelWarn)
	require.False(t, ok, "warn is below the handler's level")
	_, _, ok = l.Level(lg, slog.LevelWarn)
	require.False(t, ok, "debug is below it too")
}
