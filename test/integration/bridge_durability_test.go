package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge/postgres/pgtest"
	"github.com/iothub-dev/iothub/internal/testutil"
)

// publishFleet publishes n QoS 1 messages from each of devices on
// fleet/<id>/data, payload "<id>:<i>", all acknowledged by the hub.
func publishFleet(t *testing.T, h *hub, devices, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, devices)
	for d := range devices {
		id := fmt.Sprintf("dev-%02d", d)
		c := pahoDeviceV5(t, h, id, paho.ClientConfig{}, true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				_, err := c.Publish(ctx, &paho.Publish{Topic: "fleet/" + id + "/data", QoS: 1, Payload: fmt.Appendf(nil, "%s:%d", id, i)})
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// payloadsInOrder checks that got (payloads "<id>:<i>", repeats allowed)
// holds every i < n of each of devices, first occurrences in order.
func payloadsInOrder(t *testing.T, got []string, devices, n int) {
	t.Helper()
	ids, nums := make([]string, len(got)), make([]string, len(got))
	for i, p := range got {
		var ok bool
		ids[i], nums[i], ok = strings.Cut(p, ":")
		require.True(t, ok, p)
	}
	inOrder(t, ids, nums, devices, n)
}

// mosquittoServer is a Mosquitto broker on a fixed loopback port that can
// be stopped and started again.
type mosquittoServer struct {
	addr, conf string
	cmd        *exec.Cmd
	exited     chan struct{}
	logs       *syncBuffer
}

func startMosquitto(t *testing.T, conf string) *mosquittoServer {
	t.Helper()
	_, err := os.Stat(mosquittoPath())
	require.NoError(t, err, "mosquitto is not installed: run scripts/test-deps.sh")
	m := &mosquittoServer{addr: freePort(t), logs: &syncBuffer{}}
	_, port, err := net.SplitHostPort(m.addr)
	require.NoError(t, err)
	m.conf = filepath.Join(t.TempDir(), "mosquitto.conf")
	require.NoError(t, os.WriteFile(m.conf, []byte("listener "+port+" 127.0.0.1\n"+conf), 0o644))
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", m.logs.String())
		}
	})
	m.start(t)
	return m
}

// mosquittoPath is the mosquitto broker on PATH, or Debian's.
func mosquittoPath() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	return "/usr/sbin/mosquitto"
}

func (m *mosquittoServer) start(t *testing.T) {
	t.Helper()
	m.cmd = exec.Command(mosquittoPath(), "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = m.logs, m.logs
	m.exited = make(chan struct{})
	require.NoError(t, m.cmd.Start())
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(m.cmd, m.exited)
	waitListening(t, m.addr, m.exited)
}

func (m *mosquittoServer) stop() {
	if m.cmd == nil {
		return
	}
	select {
	case <-m.exited:
	default:
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

// hangingReceiver is a webhook receiver on a fixed port that records the
// bodies it accepts per device, and hangs (never answers) while hung.
type hangingReceiver struct {
	srv  *http.Server
	mu   sync.Mutex
	hung bool
	got  []string
	stop chan struct{}
}

func startReceiver(t *testing.T, addr string, hung bool) *hangingReceiver {
	t.Helper()
	rv := &hangingReceiver{hung: hung, stop: make(chan struct{})}
	var ln net.Listener
	var err error
	require.Eventually(t, func() bool { ln, err = net.Listen("tcp", addr); return err == nil }, 30*time.Second, 50*time.Millisecond)
	rv.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rv.mu.Lock()
		hung := rv.hung
		rv.mu.Unlock()
		if hung {
			select {
			case <-rv.stop:
			case <-r.Context().Done():
			}
			return
		}
		if r.Method == http.MethodPost {
			rv.mu.Lock()
			rv.got = append(rv.got, string(body))
			rv.mu.Unlock()
		}
	})}
	go func() { _ = rv.srv.Serve(ln) }()
	t.Cleanup(rv.close)
	return rv
}

func (rv *hangingReceiver) close() {
	select {
	case <-rv.stop:
	default:
		close(rv.stop)
	}
	_ = rv.srv.Close()
}

func (rv *hangingReceiver) bodies() []string {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]string(nil), rv.got...)
}

// sinkCase is one sink for TestBridges_killWhileTargetDown.
type sinkCase struct {
	name string
	// setup starts the target and returns the bridge's YAML entry (name
	// "sink"), a function making the target hang or refuse, one bringing it
	// back, and one reading what it holds (payloads, in arrival order).
	setup func(t *testing.T) (yaml string, down, up func(), got func() []string)
}

// TestBridges_killWhileTargetDown: for every sink on the shared engine,
// with its target hanging (Redis and PostgreSQL under SIGSTOP, a webhook
// receiver that never answers) or refusing connections (Mosquitto
// stopped), 2,000 QoS 1 messages are published, all PUBACKed, and the hub
// is killed -9 at once — while the records are in memory and in flight,
// before any send timeout. Restarted on the same data directory with the
// target back, the hub delivers all 2,000, in order per device.
func TestBridges_killWhileTargetDown(t *testing.T) {
	t.Parallel()
	const devices, perDevice = 4, 500
	cases := []sinkCase{
		{"redis", func(t *testing.T) (string, func(), func(), func() []string) {
			srv := testutil.StartRedis(t)
			rc := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
			t.Cleanup(func() { _ = rc.Close() })
			yaml := fmt.Sprintf(`    type: redis
    redis:
      addresses: [%q]
      command: xadd
      stream: fleet
      fields: [{key: p, value: "${payload}"}]
`, srv.Addr)
			return yaml, srv.Pause, srv.Resume, func() []string {
				entries, err := rc.XRange(context.Background(), "fleet", "-", "+").Result()
				if err != nil {
					return nil
				}
				var out []string
				for _, e := range entries {
					out = append(out, fmt.Sprint(e.Values["p"]))
				}
				return out
			}
		}},
		{"webhook", func(t *testing.T) (string, func(), func(), func() []string) {
			addr := freePort(t)
			var rv *hangingReceiver
			yaml := fmt.Sprintf(`    type: webhook
    webhook:
      url: http://%s/fleet/${clientid}
      body: "${payload}"
      timeout: 30s
`, addr)
			down := func() { rv = startReceiver(t, addr, true) }
			up := func() { rv.close(); rv = startReceiver(t, addr, false) }
			return yaml, down, up, func() []string { return rv.bodies() }
		}},
		{"postgres", func(t *testing.T) (string, func(), func(), func() []string) {
			pg := pgtest.Start(t)
			db := pg.Conn(t)
			_, err := db.Exec(context.Background(), `CREATE TABLE fleet (n bigserial PRIMARY KEY, device text, payload text)`)
			require.NoError(t, err)
			yaml := fmt.Sprintf(`    type: postgres
    postgres:
      url: %s
      statement: INSERT INTO fleet (device, payload) VALUES (${clientid}, ${payload})
`, pg.URL)
			return yaml, pg.Pause, pg.Resume, func() []string { return pgColumn(db, "SELECT payload FROM fleet ORDER BY n") }
		}},
		{"mqtt", func(t *testing.T) (string, func(), func(), func() []string) {
			m := startMosquitto(t, "allow_anonymous true\n")
			var col *collector
			yaml := fmt.Sprintf(`    type: mqtt
    mqtt:
      address: %s
      remote_topic: central/${topic}
      connect_timeout: 2s
      reconnect_max: 500ms
`, m.addr)
			down := m.stop
			up := func() { m.start(t); col = collect(t, m.addr, "central-reader", "central/#") }
			return yaml, down, up, func() []string { return col.payloads() }
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			yaml, down, up, got := tc.setup(t)
			cfg := hubConfig(t, ruleToBridge("fleet", `SELECT * FROM "fleet/#"`, "sink")+`  - name: sink
`+yaml+`    producer: {send_timeout: 3s}
`)
			h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", cfg)
			down()
			publishFleet(t, h, devices, perDevice)
			require.NoError(t, h.cmd.Process.Kill()) // every message PUBACKed, none delivered, no timeout elapsed
			<-h.exited
			up()
			h = startHubOn(t, h, "--config", cfg)
			require.Eventually(t, func() bool {
				seen := map[string]bool{}
				for _, p := range got() {
					seen[p] = true
				}
				return len(seen) == devices*perDevice
			}, 120*time.Second, 100*time.Millisecond, "records at the target after the restart: %d; metrics %v", len(got()), bridgeGet(t, h, "sink", "metrics"))
			payloadsInOrder(t, got(), devices, perDevice)
			waitBridge(t, h, "sink", "metrics", "queued", 0)
		})
	}
}

// pgColumn is the first column of query's rows as text (nil on an error:
// the callers poll).
func pgColumn(db *pgx.Conn, query string) []string {
	rows, err := db.Query(context.Background(), query)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if rows.Scan(&s) == nil {
			out = append(out, s)
		}
	}
	return out
}
