package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"
)

// TestBench_dashboard measures the dashboard at 200,000 clients
// (docs/dashboard.md, "At 200,000 clients"): a hub with 200,000 offline
// MQTT 5 sessions of one subscription each (made by paho.golang) and
// 10,000 connected clients (`iothub bench conn`); 1,000 sessions hold a
// queued message and 500 dropped one. It times the API requests the pages
// make — lists filtered and paged by the hub — and the pages themselves in
// headless Chromium (from the navigation until the rows are drawn), and
// checks every answer (a filter returns only what it asks for; paging a
// filter reaches every match once). It logs the figures and asserts no
// time. It runs only with IOTHUB_BENCH_BIN set to a hub built without
// -race:
//
//	go build -o /tmp/iothub ./cmd/iothub
//	IOTHUB_BENCH_BIN=/tmp/iothub go test -run TestBench_dashboard -v -count=1 -timeout 30m ./test/integration/
//
// IOTHUB_BENCH_SESSIONS sets the number of offline sessions (default
// 200000).
func TestBench_dashboard(t *testing.T) {
	bin := benchBinary(t)
	sessions := 200_000
	if s := os.Getenv("IOTHUB_BENCH_SESSIONS"); s != "" {
		var err error
		sessions, err = strconv.Atoi(s)
		require.NoError(t, err, "IOTHUB_BENCH_SESSIONS")
	}
	const live, queued, dropped = 10_000, 1_000, 500
	require.GreaterOrEqual(t, sessions, queued+dropped)

	h := &hub{mqtt: freePort(t), ws: freePort(t), api: freePort(t), dataDir: t.TempDir(), logs: &syncBuffer{}, exited: make(chan struct{})}
	h.cmd = exec.Command(bin, "serve", "--mqtt-addr", h.mqtt, "--ws-addr", h.ws, "--api-addr", h.api,
		"--data-dir", h.dataDir, "--log-level", "warn")
	h.cmd.Env = append(os.Environ(), "IOTHUB_API_KEY="+apiKey)
	h.cmd.Stdout, h.cmd.Stderr = h.logs, h.logs
	require.NoError(t, h.cmd.Start())
	go func() { _ = h.cmd.Wait(); close(h.exited) }()
	t.Cleanup(func() { h.stop(t) })
	waitListening(t, h.mqtt, h.exited)
	waitListening(t, h.api, h.exited)
	password := waitLogged(t, h, firstOperatorLine, "the first dashboard user's password")

	ids := benchSessionIDs(sessions)
	start := time.Now()
	makeOfflineSessions(t, h, ids)
	t.Logf("%d offline sessions made in %s", sessions, time.Since(start).Round(time.Second))
	conn := exec.Command(bin, "bench", "conn", "--addr", h.mqtt, "--count", strconv.Itoa(live), "--rate", "2000",
		"--keepalive", "300s", "--hold", "1h", "--prefix", "live-")
	conn.Stdout, conn.Stderr = &syncBuffer{}, &syncBuffer{}
	require.NoError(t, conn.Start())
	t.Cleanup(func() { _ = conn.Process.Kill(); _ = conn.Wait() })
	pub := pahoDevice(t, h, "bench-publisher")
	for i, id := range ids[:queued+dropped] {
		qos := byte(1)
		if i >= queued {
			qos = 0 // to an offline session: dropped (qos0_offline)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := pub.Publish(ctx, &paho.Publish{Topic: "devices/" + id + "/command", QoS: qos, Payload: []byte(`{"action":"unlock"}`)})
		cancel()
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		st := benchGet(t, h, "/api/v1/node/stats")
		return st["connections"] == float64(live+1) && st["sessions"] == float64(sessions+live+1) && st["queued"] == float64(queued)
	}, 5*time.Minute, 100*time.Millisecond, "the hub holds every session, connection and queued message")
	t.Logf("hub: %s", vmRSS(t, h.cmd.Process.Pid))

	benchAPI(t, h, ids, live, queued, dropped)
	benchPages(t, h, password, sessions+live+1)
}

// benchSessionIDs returns n distinct 17-digit client ids, scattered over
// the id space as devices' serial numbers are.
func benchSessionIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%017d", uint64(i)*7919%uint64(n)*1_000_003) //nolint:gosec // i < n
	}
	return ids
}

// makeOfflineSessions connects each id with paho.golang (MQTT 5, session
// expiry one day), subscribes it to devices/ID/command and disconnects,
// 32 at a time.
func makeOfflineSessions(t *testing.T, h *hub, ids []string) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(ids)); i = next.Add(1) - 1 {
				if err := offlineSession(h, ids[i]); err != nil {
					errs <- fmt.Errorf("%s: %w", ids[i], err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func offlineSession(h *hub, id string) error {
	nc, err := net.DialTimeout("tcp", h.mqtt, 10*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	expiry := uint32(86400)
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 60,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/" + id + "/command", QoS: 1}}}); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return c.Disconnect(&paho.Disconnect{})
}

// benchGet GETs path with the test key and decodes the JSON object.
func benchGet(t *testing.T, h *hub, path string) map[string]any {
	t.Helper()
	code, body := apiCall(t, h, http.MethodGet, path, apiKey, "")
	require.Equal(t, http.StatusOK, code, "%s: %s", path, body)
	var out map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &out), path)
	return out
}

// benchPage is one page of a list: its rows and the next cursor.
type benchPage struct {
	Data []map[string]any `json:"data"`
	Meta struct {
		NextCursor string `json:"next_cursor"`
	} `json:"meta"`
}

// timed GETs path five times and returns the last page and the median
// and the slowest time.
func timed(t *testing.T, h *hub, path string) (benchPage, time.Duration, time.Duration) {
	t.Helper()
	var page benchPage
	times := make([]time.Duration, 5)
	for i := range times {
		start := time.Now()
		code, body := apiCall(t, h, http.MethodGet, path, apiKey, "")
		times[i] = time.Since(start)
		require.Equal(t, http.StatusOK, code, "%s: %s", path, body)
		page = benchPage{}
		require.NoError(t, json.Unmarshal([]byte(body), &page), path)
	}
	slices.Sort(times)
	return page, times[2], times[4]
}

// benchAPI times the requests of the Clients and Topics pages and checks
// their answers.
func benchAPI(t *testing.T, h *hub, ids []string, live, queued, dropped int) {
	t.Helper()
	every := func(rows []map[string]any, ok func(map[string]any) bool) bool {
		return len(rows) > 0 && !slices.ContainsFunc(rows, func(r map[string]any) bool { return !ok(r) })
	}
	probe := ids[len(ids)/2]
	for _, c := range []struct {
		name, path string
		check      func(benchPage) bool
	}{
		{"clients, first page", "/api/v1/clients?limit=50", func(p benchPage) bool { return len(p.Data) == 50 && p.Meta.NextCursor != "" }},
		{"clients, search (rare)", "/api/v1/clients?limit=50&search=4242", func(p benchPage) bool {
			return every(p.Data, func(r map[string]any) bool { return strings.Contains(r["client_id"].(string), "4242") })
		}},
		{"clients, search (one)", "/api/v1/clients?limit=50&search=" + probe, func(p benchPage) bool {
			return len(p.Data) == 1 && p.Data[0]["client_id"] == probe
		}},
		{"clients, offline with backlog ≥ 1", "/api/v1/clients?limit=50&connected=false&min_queued=1", func(p benchPage) bool {
			return len(p.Data) == 50 && every(p.Data, func(r map[string]any) bool { return r["queued"].(float64) >= 1 && r["connected"] == false })
		}},
		{"clients, drops ≥ 1", "/api/v1/clients?limit=50&min_dropped=1", func(p benchPage) bool {
			return len(p.Data) == 50 && every(p.Data, func(r map[string]any) bool { return r["dropped"].(float64) >= 1 })
		}},
		{"clients, connected", "/api/v1/clients?limit=50&connected=true", func(p benchPage) bool {
			return len(p.Data) == 50 && every(p.Data, func(r map[string]any) bool { return r["connected"] == true })
		}},
		{"clients, MQTT 3.1.1", "/api/v1/clients?limit=50&protocol=3.1.1", func(p benchPage) bool {
			return len(p.Data) == 50 && every(p.Data, func(r map[string]any) bool { return r["protocol_version"] == "3.1.1" })
		}},
		{"client details", "/api/v1/clients/" + probe, func(benchPage) bool { return true }},
		{"client's subscriptions", "/api/v1/clients/" + probe + "/subscriptions?limit=50", func(p benchPage) bool { return len(p.Data) == 1 }},
		{"subscriptions, first page", "/api/v1/subscriptions?limit=100", func(p benchPage) bool { return len(p.Data) == 100 }},
		{"subscribers of a topic", "/api/v1/subscriptions?limit=100&topic=devices/" + probe + "/command", func(p benchPage) bool {
			return len(p.Data) == 1 && p.Data[0]["client_id"] == probe
		}},
		{"overview: stats", "/api/v1/node/stats", func(benchPage) bool { return true }},
		{"overview: history", "/api/v1/node/history", func(benchPage) bool { return true }},
	} {
		page, median, slowest := timed(t, h, c.path)
		require.True(t, c.check(page), "%s: %s answered %+v", c.name, c.path, page.Data)
		t.Logf("API %-36s median %6.1f ms, slowest %6.1f ms (%d rows)", c.name, ms(median), ms(slowest), len(page.Data))
	}

	// Paging a filter reaches every match once.
	for _, c := range []struct {
		name, filter string
		want         int
	}{
		{"backlog ≥ 1", "min_queued=1", queued},
		{"drops ≥ 1", "min_dropped=1", dropped},
		{"connected", "connected=true", live + 1},
	} {
		seen := map[string]bool{}
		var total time.Duration
		pages := 0
		for cursor := ""; pages == 0 || cursor != ""; pages++ {
			start := time.Now()
			p := benchGet(t, h, "/api/v1/clients?limit=50&"+c.filter+"&cursor="+url.QueryEscape(cursor))
			total += time.Since(start)
			raw, err := json.Marshal(p)
			require.NoError(t, err)
			var page benchPage
			require.NoError(t, json.Unmarshal(raw, &page))
			for _, r := range page.Data {
				id := r["client_id"].(string)
				require.False(t, seen[id], "%s: %s on two pages", c.name, id)
				seen[id] = true
			}
			cursor = page.Meta.NextCursor
		}
		require.Len(t, seen, c.want, c.name)
		t.Logf("API paging %-29s %d pages of 50, %6.1f ms a page on average", c.name, pages, ms(total)/float64(pages))
	}
}

// benchPages signs in to the dashboard in headless Chromium and times
// each page from the navigation until its rows are drawn.
func benchPages(t *testing.T, h *hub, password string, sessions int) {
	t.Helper()
	b := startBrowser(t)
	base := "http://" + h.api
	b.run(t, "sign in", chromedp.Navigate(base+"/"), visible("#login-username"), setValue("#login-username", "admin"),
		setValue("#login-password", password), click("#login-submit"), visible(`#nav a[data-page="overview"]`))
	rows := `document.querySelectorAll('#clients-list tr[data-client-id]')`
	for _, c := range []struct{ name, route, ready string }{
		{"Overview", "overview", fmt.Sprintf(`(document.querySelector('[data-stat="sessions"] .value')||{}).textContent === '%.1fk'`, float64(sessions)/1000)},
		{"Clients, first page", "clients", rows + `.length === 50`},
		{"Clients, search", "clients?search=4242", `(r => r.length > 0 && [...r].every(tr => tr.dataset.clientId.includes('4242')))(` + rows + `)`},
		{"Clients, backlog ≥ 1", "clients?min_queued=1", rows + `.length === 50 && !document.querySelector('#clients-list tr[data-client-id^="live-"]')`},
		{"Clients, drops ≥ 1", "clients?min_dropped=1", rows + `.length === 50`},
		{"Clients, connected", "clients?connected=true", `(r => r.length === 50 && [...r].every(tr => tr.textContent.includes('connected')))(` + rows + `)`},
		{"Client details", "clients?id=00000000000000000", `document.querySelectorAll('#client-subs tr[data-filter]').length === 1`},
	} {
		// From another page, so that nothing of the last one is reused.
		b.run(t, "leave", chromedp.Navigate(base+"/#/security"), visible("#acl-topic"))
		mark := eval[float64](t, b, `performance.now()`)
		start := time.Now()
		require.Equal(t, "#/"+c.route, eval[string](t, b, `location.hash = '#/`+c.route+`'`))
		b.waitJS(t, c.name, c.ready)
		took := time.Since(start)
		// The requests the page made, as the browser timed them.
		reqs := eval[string](t, b, fmt.Sprintf(`performance.getEntriesByType('resource').filter(e => e.startTime >= %f)`+
			`.map(e => e.name.replace(location.origin, '') + ' ' + e.duration.toFixed(1) + ' ms').join(', ')`, mark))
		t.Logf("page %-25s drawn in %6.1f ms (%s)", c.name, ms(took), reqs)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(t, b.errors, "the pages raised JavaScript or console errors")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

var vmRSSLine = regexp.MustCompile(`VmRSS:\s+(\d+) kB`)

// vmRSS reads a process's resident memory from /proc.
func vmRSS(t *testing.T, pid int) string {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	m := vmRSSLine.FindSubmatch(raw)
	require.NotNil(t, m)
	kb, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	return fmt.Sprintf("VmRSS %d MiB", kb/1024)
}
