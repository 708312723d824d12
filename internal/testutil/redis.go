package testutil

import (
	"bufio"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// RedisServer is a redis-server (Debian's, installed by
// scripts/test-deps.sh) on a private loopback port with an empty data
// directory and no persistence. Stop kills it; Start runs it again on the
// same port (an empty server again).
type RedisServer struct {
	// Addr is 127.0.0.1:<port>.
	Addr string
	// Args are extra redis-server arguments (such as "--requirepass", "pw").
	Args []string

	t    testing.TB
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts a redis-server with args, stopped when the test ends.
// It fails the test when redis-server is not installed.
func StartRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	r := &RedisServer{Addr: addr, Args: args, t: t, dir: t.TempDir()}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start runs the server and waits until it answers PING.
func (r *RedisServer) Start() {
	r.t.Helper()
	bin, err := exec.LookPath("redis-server")
	require.NoError(r.t, err, "redis-server is required: run `make test` (scripts/test-deps.sh installs it)")
	_, port, _ := net.SplitHostPort(r.Addr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.cmd = exec.Command(bin, append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--dir", r.dir}, r.Args...)...)
		out := &strings.Builder{}
		r.cmd.Stdout, r.cmd.Stderr = out, out
		require.NoError(r.t, r.cmd.Start())
		r.done = make(chan struct{})
		go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(r.cmd, r.done)
		if r.waitReady(r.done) {
			return
		}
		// The port may linger a moment after a kill: try again.
		require.True(r.t, time.Now().Before(deadline), "redis-server on %s did not start: %s", r.Addr, out.String())
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReady waits until the server answers PING (true) or exits (false).
func (r *RedisServer) waitReady(exited <-chan struct{}) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if ping(r.Addr) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("redis-server on %s did not answer PING within 30s", r.Addr)
	return false
}

// ping reports whether a server on addr answers PING (an error reply,
// such as NOAUTH, counts: the server is up).
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-"))
}

// Stop kills the server (SIGKILL: nothing is flushed) and waits for it.
func (r *RedisServer) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.done:
	default:
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}
