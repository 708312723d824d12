package testutil

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
)

// StartBroker starts a broker on 127.0.0.1 and a free port with
// broker.Defaults() changed by configure (may be nil; $SYS publishing is off
// unless configure turns it on), stops it when the test ends, and returns it
// with its address.
func StartBroker(t testing.TB, configure func(*broker.Options)) (*broker.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ServeBroker(t, configure, ln, "tcp"), ln.Addr().String()
}

// ServeBroker starts a broker with BrokerOptions(t, configure) serving ln
// (the listener named name), and shuts it down and closes ln when the
// test ends.
func ServeBroker(t testing.TB, configure func(*broker.Options), ln net.Listener, name string) *broker.Server {
	t.Helper()
	s, err := broker.New(BrokerOptions(t, configure))
	if err != nil {
		_ = ln.Close()
	}
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln, name)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		_ = ln.Close()
		<-done
	})
	return s
}

// BrokerOptions returns broker.Defaults() for a test — $SYS publishing
// off, the Logger — changed by configure (may be nil).
func BrokerOptions(t testing.TB, configure func(*broker.Options)) broker.Options {
	opts := broker.Defaults()
	opts.SysInterval = 0
	opts.Logger = Logger(t)
	if configure != nil {
		configure(&opts)
	}
	return opts
}

// Logger returns a logger for tests: warnings and above to stderr, or
// everything with IOTHUB_TEST_DEBUG=1.
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("IOTHUB_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Eventually polls cond every few milliseconds until it is true or timeout
// passes, then fails the test with msg. Use it only for state that has no
// event to wait on (counters, gauges).
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %s", timeout, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Dial opens a raw TCP connection to addr, closed when the test ends.
func Dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
