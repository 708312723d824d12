package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hubBinary is the iothub binary built once by TestMain.
var hubBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "iothub-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Password hashes at bcrypt's least cost for every hub and `iothub
	// users` command the tests start (they inherit the environment): at
	// the default cost one hash or check of the -race binary takes 3-5 s
	// of CPU at load 10, so each hub start spent seconds on the dashboard's
	// first user, and a wrong or first password's check outlasted the
	// clients' own bounds (mosquitto_sub -W 5, an edge's 10 s connect
	// timeout). No test is about bcrypt's cost.
	if err := os.Setenv("IOTHUB_AUTH_USERS_BCRYPT_COST", "4"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hubBinary = filepath.Join(dir, "iothub")
	build := exec.Command("go", "build", "-race", "-o", hubBinary, "../../cmd/iothub")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building iothub:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// hub is one iothub process started for a test.
type hub struct {
	cmd     *exec.Cmd
	mqtt    string // host:port
	ws      string
	api     string
	dataDir string
	logs    *syncBuffer
	exited  chan struct{}
	wrapper []string // a command that runs the hub (prlimit …); nil: none
}

// syncBuffer collects a process's output for failure reports.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort returns a free loopback TCP port.
func freePort(t *testing.T) string {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	if portNext == 0 {
		portLow, portHigh = fixedPortRange()
		portNext = portLow + rand.IntN(max(portHigh-portLow, 1))
	}
	for range portHigh - portLow {
		p := portNext
		if portNext++; portNext >= portHigh {
			portNext = portLow
		}
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			_ = ln.Close()
			return ln.Addr().String()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // no fixed range: the kernel's choice
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// The ports freePort hands out: below the kernel's ephemeral range, so
// that no port-0 bind and no outgoing connection of a test running in
// parallel can take one between freePort and the hub's bind, and each at
// most once per run (a shared counter).
var (
	portMu                      sync.Mutex
	portLow, portHigh, portNext int
)

// fixedPortRange is [10000, the ephemeral range's start), or an empty
// range when that start is too low to leave a thousand ports.
func fixedPortRange() (low, high int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0, 0
	}
	start, err := strconv.Atoi(fields[0])
	if err != nil || start < 11000 {
		return 0, 0
	}
	return 10000, start
}

// startHub runs `iothub serve` on private loopback ports with extra
// arguments and environment, waits until MQTT accepts connections, and stops
// it (SIGTERM) when the test ends.
func startHub(t *testing.T, env []string, args ...string) *hub {
	t.Helper()
	return startHubIn(t, t.TempDir(), env, args...)
}

// startHubIn is startHub on a given data directory (a restart on new
// ports). The hub binds port 0 itself and the test reads the addresses from
// its "listening" log lines, so that tests running in parallel never race
// for a port.
func startHubIn(t *testing.T, dataDir string, env []string, args ...string) *hub {
	t.Helper()
	h := &hub{mqtt: anyPort, ws: anyPort, api: anyPort, dataDir: dataDir}
	launch(t, h, env, args...)
	return h
}

// startHubOn restarts a hub on the ports and data directory of old, which
// has stopped, with the test API key.
func startHubOn(t *testing.T, old *hub, args ...string) *hub {
	t.Helper()
	h := &hub{mqtt: old.mqtt, ws: old.ws, api: old.api, dataDir: old.dataDir}
	launch(t, h, []string{"IOTHUB_API_KEY=" + apiKey}, args...)
	return h
}

// anyPort asks the hub to bind a free loopback port.
const anyPort = "127.0.0.1:0"

// launch starts `iothub serve` for h (its addresses, data directory, env
// and args), stops it when the test ends, and waits until its MQTT,
// WebSocket and HTTP listeners are up, setting h's addresses to the bound
// ones.
func launch(t *testing.T, h *hub, env []string, args ...string) {
	t.Helper()
	h.logs, h.exited = &syncBuffer{}, make(chan struct{})
	all := append([]string{"serve", "--mqtt-addr", h.mqtt, "--ws-addr", h.ws, "--api-addr", h.api, "--data-dir", h.dataDir, "--log-level", "debug"}, args...)
	h.cmd = exec.Command(hubBinary, all...)
	if len(h.wrapper) > 0 {
		h.cmd = exec.Command(h.wrapper[0], append(append(h.wrapper[1:len(h.wrapper):len(h.wrapper)], hubBinary), all...)...)
	}
	h.cmd.Env = append(os.Environ(), env...)
	h.cmd.Stdout, h.cmd.Stderr = h.logs, h.logs
	require.NoError(t, h.cmd.Start())
	go func() { _ = h.cmd.Wait(); close(h.exited) }()
	t.Cleanup(func() {
		h.stop(t)
		if t.Failed() {
			t.Logf("iothub output:\n%s", h.logs.String())
		}
	})
	bound := waitBound(t, h, "mqtt", "mqtt-websocket", "http")
	h.mqtt, h.ws, h.api = bound["mqtt"], bound["mqtt-websocket"], bound["http"]
}

// listeningLine is the hub's log line for an open listener.
var listeningLine = regexp.MustCompile(`msg=listening listener=\S+ protocol=(\S+) address=(\S+)`)

// startBound bounds the wait for a hub to listen: a cluster node waits for
// its peers and JetStream first, and CI runs tests side by side on two
// cores, where a start has taken over 30 s.
const startBound = 90 * time.Second

// waitBound waits (startBound at most) until h has logged an open listener for
// each protocol and returns the address of the first of each.
func waitBound(t *testing.T, h *hub, protocols ...string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(startBound)
	for time.Now().Before(deadline) {
		select {
		case <-h.exited:
			t.Fatal("iothub exited before listening")
		default:
		}
		bound := map[string]string{}
		for _, m := range listeningLine.FindAllStringSubmatch(h.logs.String(), -1) {
			if _, seen := bound[m[1]]; !seen {
				bound[m[1]] = m[2]
			}
		}
		if !slices.ContainsFunc(protocols, func(p string) bool { return bound[p] == "" }) {
			return bound
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("iothub did not open its %v listeners within %s", protocols, startBound)
	return nil
}

func waitListening(t *testing.T, addr string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(startBound)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatal("iothub exited before listening")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("iothub not listening on %s within %s", addr, startBound)
}

// stop sends SIGTERM and waits for the process to exit (SIGKILL after 15s).
func (h *hub) stop(t *testing.T) {
	select {
	case <-h.exited:
		return
	default:
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(15 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.exited
		t.Error("iothub did not stop within 15s of SIGTERM")
	}
}

// tool returns the path of a required external client, failing the test
// when it is not installed (make test installs it).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	require.NoErrorf(t, err, "%s is required: run `make test` (scripts/test-deps.sh installs it)", name)
	return p
}

// sub is a running mosquitto_sub whose output lines are collected.
type sub struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
}

// startSub runs mosquitto_sub with -d (debug) so the test can wait for
// SUBACK before publishing; message lines are printed as "MSG <topic> <payload>".
func startSub(t *testing.T, h *hub, args ...string) *sub {
	t.Helper()
	host, port, _ := net.SplitHostPort(h.mqtt)
	// stdbuf: mosquitto_sub's stdout is block-buffered on a pipe; line
	// buffering lets the test see SUBACK as it happens.
	all := append([]string{"-oL", tool(t, "mosquitto_sub"), "-h", host, "-p", port, "-d", "-F", "MSG %t %p"}, args...)
	cmd := exec.Command(tool(t, "stdbuf"), all...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	s := &sub{cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	require.NoError(t, cmd.Start())
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	return s
}

// waitLine returns the first output line containing want.
func (s *sub) waitLine(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-s.lines:
			if strings.Contains(l, want) {
				return l
			}
		case <-timeout:
			t.Fatalf("mosquitto_sub printed no line containing %q within 10s", want)
			return ""
		}
	}
}

// waitLineWithout is waitLine failing on any line before it containing
// one of forbidden (what must not have been delivered meanwhile).
func (s *sub) waitLineWithout(t *testing.T, want string, forbidden ...string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-s.lines:
			for _, f := range forbidden {
				require.NotContains(t, l, f)
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-timeout:
			t.Fatalf("mosquitto_sub printed no line containing %q within 10s", want)
			return ""
		}
	}
}

// pub runs mosquitto_pub to completion.
func pub(t *testing.T, h *hub, args ...string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(h.mqtt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool(t, "mosquitto_pub"), append([]string{"-h", host, "-p", port}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoErrorf(t, err, "mosquitto_pub %v: %s", args, out)
}

var _ = io.Discard

// startService starts a peer the test needs (HAProxy, Mosquitto,
// Prometheus…), kills it when the test ends, and shows its output if the
// test failed. exited is closed when the process has ended.
func startService(t *testing.T, name string, cmd *exec.Cmd) (logs *syncBuffer, exited <-chan struct{}) {
	t.Helper()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start(), "starting %s", name)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return out, done
}
