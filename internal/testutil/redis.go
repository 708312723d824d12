package testutil

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
	tls  *CertFiles // serve TLS only, with this certificate
	ca   string     // the CA file of client certificates
	conf string     // a config file's text (sentinel: it rewrites the file)
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts a redis-server with args, stopped when the test ends.
// It fails the test when redis-server is not installed.
func StartRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	r := &RedisServer{Addr: freeAddr(t), Args: args, t: t, dir: t.TempDir()}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// freeAddr returns a free loopback host:port.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// StartRedisSentinel starts a sentinel (redis-server --sentinel)
// monitoring master under name, with a quorum of 1, stopped when the test
// ends.
func StartRedisSentinel(t testing.TB, master *RedisServer, name string) *RedisServer {
	t.Helper()
	host, port, _ := net.SplitHostPort(master.Addr)
	r := &RedisServer{Addr: freeAddr(t), t: t, dir: t.TempDir(), Args: []string{"--sentinel"},
		conf: fmt.Sprintf("sentinel monitor %s %s %s 1\n", name, host, port)}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// StartRedisCluster starts n cluster-enabled servers, joins them with
// `redis-cli --cluster create` (masters only) and waits until the cluster
// state is ok. They are stopped when the test ends.
func StartRedisCluster(t testing.TB, n int) []*RedisServer {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	require.NoError(t, err, "redis-cli is required: run `make test` (scripts/test-deps.sh installs it)")
	var nodes []*RedisServer
	args := []string{"--cluster", "create"}
	for range n {
		r := &RedisServer{Addr: freeAddr(t), t: t, dir: t.TempDir(),
			Args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}}
		r.Start()
		t.Cleanup(r.Stop)
		nodes = append(nodes, r)
		args = append(args, r.Addr)
	}
	out, err := exec.Command(cli, append(args, "--cluster-yes")...).CombinedOutput()
	require.NoError(t, err, "redis-cli --cluster create: %s", out)
	host, port, _ := net.SplitHostPort(nodes[0].Addr)
	Eventually(t, 60*time.Second, func() bool {
		for _, nd := range nodes {
			h, p, _ := net.SplitHostPort(nd.Addr)
			info, err := exec.Command(cli, "-h", h, "-p", p, "cluster", "info").Output()
			if err != nil || !strings.Contains(string(info), "cluster_state:ok") {
				return false
			}
		}
		return true
	}, "cluster state ok on "+host+":"+port)
	return nodes
}

// StartRedisTLS starts a redis-server that speaks TLS only, with a
// server certificate of ca (client certificates optional, checked
// against ca), stopped when the test ends.
func StartRedisTLS(t testing.TB, ca *CA, args ...string) *RedisServer {
	t.Helper()
	cert := ca.Server(t, "redis")
	r := &RedisServer{Addr: freeAddr(t), Args: args, t: t, dir: t.TempDir(), tls: &cert, ca: ca.File}
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
		var args []string
		if r.conf != "" {
			conf := filepath.Join(r.dir, "redis.conf")
			require.NoError(r.t, os.WriteFile(conf, []byte(r.conf), 0o600))
			args = append(args, conf)
		}
		args = append(args, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir)
		if r.tls != nil {
			args = append(args, "--port", "0", "--tls-port", port, "--tls-cert-file", r.tls.CertFile,
				"--tls-key-file", r.tls.KeyFile, "--tls-ca-cert-file", r.ca, "--tls-auth-clients", "optional")
		}
		r.cmd = exec.Command(bin, append(args, r.Args...)...)
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
		if ping(r.Addr, r.tls != nil) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("redis-server on %s did not answer PING within 30s", r.Addr)
	return false
}

// ping reports whether a server on addr answers PING (an error reply,
// such as NOAUTH, counts: the server is up).
func ping(addr string, useTLS bool) bool {
	var c net.Conn
	var err error
	d := &net.Dialer{Timeout: time.Second}
	if useTLS {
		c, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a readiness probe of a test server
	} else {
		c, err = d.Dial("tcp", addr)
	}
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

// Pause stops the server with SIGSTOP: it keeps accepting connections (the
// kernel does) and answers nothing, a hanging server. Resume undoes it.
func (r *RedisServer) Pause() { _ = r.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (r *RedisServer) Resume() { _ = r.cmd.Process.Signal(syscall.SIGCONT) }
