package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// Server is a running private cluster.
type Server struct {
	// Port is the loopback port it listens on.
	Port int
	// URL connects as the postgres superuser to database postgres.
	URL string

	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// bin returns the directory of the newest installed PostgreSQL programs.
func bin(t testing.TB) string {
	t.Helper()
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	require.NotEmpty(t, m, "PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): run scripts/test-deps.sh")
	sort.Slice(m, func(i, j int) bool { return version(m[i]) < version(m[j]) })
	return filepath.Dir(m[len(m)-1])
}

func version(p string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
	return n
}

// asPostgres runs name as the postgres user when the test runs as root
// (the server refuses to run as root); the process is name itself, so
// that its PID is the server's.
func asPostgres(t testing.TB, dir, name string, args ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(name, args...)
	c.Dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		require.NoError(t, err, "the postgres user is missing: run scripts/test-deps.sh")
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		c.Env = append(os.Environ(), "HOME="+dir, "USER=postgres", "LOGNAME=postgres")
	}
	return c
}

// Start creates and starts a cluster; it is stopped at t's cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	b := bin(t)
	dir, err := os.MkdirTemp("", "iothub-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		require.NoError(t, err, "the postgres user is missing: run scripts/test-deps.sh")
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(t, os.Chown(dir, uid, gid))
	}
	data := filepath.Join(dir, "data")
	out, err := asPostgres(t, dir, filepath.Join(b, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput()
	require.NoError(t, err, "initdb: %s", out)
	s := &Server{dir: dir, done: make(chan struct{})}
	s.Port = freePort(t)
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	s.start(t, b)
	return s
}

func (s *Server) start(t testing.TB, b string) {
	t.Helper()
	logf := filepath.Join(s.dir, "server.log")
	s.cmd = asPostgres(t, s.dir, filepath.Join(b, "postgres"), "-D", filepath.Join(s.dir, "data"), "-k", s.dir,
		"-p", strconv.Itoa(s.Port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")
	f, err := os.Create(logf)
	require.NoError(t, err)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	require.NoError(t, s.cmd.Start())
	go func() { _ = s.cmd.Wait(); _ = f.Close(); close(s.done) }()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			l, _ := os.ReadFile(logf)
			t.Logf("postgres log:\n%s", l)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			l, _ := os.ReadFile(logf)
			t.Fatalf("postgres exited at start:\n%s", l)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.URL)
		cancel()
		if err == nil {
			_ = c.Close(context.Background())
			return
		}
		require.True(t, time.Now().Before(deadline), "postgres not ready within 60s: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server by its PID (SIGINT: fast shutdown) and waits for
// it to exit.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Restart starts the stopped server again on the same port and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.done = make(chan struct{})
	s.start(t, bin(t))
}

// Conn connects to the server as postgres; closed at t's cleanup.
func (s *Server) Conn(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Pause stops the postmaster and its backends with SIGSTOP: connections
// are still accepted by the kernel and nothing answers, a hanging server.
// Resume undoes it.
func (s *Server) Pause() { s.signalAll(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signalAll(syscall.SIGCONT) }

// signalAll signals the postmaster and its children (found in /proc).
func (s *Server) signalAll(sig syscall.Signal) {
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(pid, sig)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			_ = syscall.Kill(child, sig)
		}
	}
}
