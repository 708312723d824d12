package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/eclipse/paho.golang/paho"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/stretchr/testify/require"
)

var firstOperatorLine = regexp.MustCompile(`created the first dashboard user, admin.* password=([A-Za-z0-9_-]+)`)

// browser is a headless Chromium driven through chromedp, with the
// page's uncaught exceptions and console errors (CSP violations among
// them) collected.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

// startBrowser starts Debian's chromium, headless, on a fresh profile,
// with nothing that reaches out of the machine.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(tool(t, "chromium")),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 860),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("hide-scrollbars", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	b := &browser{ctx: ctx}
	// Console starts the browser (no timeout on the first call: it would
	// bound the browser's life) and reports what the pages print.
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			// Refused requests (401 after signing out, 400 for a bad SQL
			// statement) are the network's log entries, expected here.
			if (m.Type == chromedp.ConsoleError || m.IsException()) && m.Source != "network" {
				b.note(m.String())
			}
		}
	}()
	return b
}

func (b *browser) note(s string) {
	b.mu.Lock()
	b.errors = append(b.errors, s)
	b.mu.Unlock()
}

// run runs actions with a bound, failing the test with step's name.
func (b *browser) run(t *testing.T, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, actions...), "browser step %q; the page: %s", step, b.where())
}

// where describes the page for a failure: its address and the start of
// its text.
func (b *browser) where() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + ' | ' + (document.getElementById('page')?.innerText || '').slice(0, 400)`))
	if err != nil {
		return err.Error()
	}
	return s
}

// waitJS polls a JavaScript expression until it is true.
func (b *browser) waitJS(t *testing.T, step, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond)))
	require.NoError(t, err, "browser step %q: waiting for %s; the page: %s", step, expr, b.where())
}

// eval evaluates a JavaScript expression (awaiting a promise).
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "evaluating %s", expr)
	return v
}

// screenshot captures the page; with UPDATE_SCREENSHOTS=1 it is written
// to docs/img/dashboard-NAME.png (CI leaves the committed files alone).
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err, "screenshot %s", name)
	require.NotEmpty(t, png)
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "img", "dashboard-"+name+".png"), png, 0o644))
	}
}

// click clicks the (visible) element of a CSS selector.
func click(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }

// setValue replaces the value of an input or textarea.
func setValue(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(sel), v)
}

// visible waits until the element of a CSS selector is visible.
func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

// TestDashboard_browser signs in to the dashboard in a real headless
// Chromium against the built hub with real MQTT clients connected, and
// walks its pages: finds a client by id and kicks it, creates a rule in
// the editor (an SQL mistake is marked at its position) and sees its
// metrics move when a message is published, watches a live message
// arrive, browses the topic tree, tests the ACL, signs out and is
// refused. It takes the screenshots of docs/dashboard.md.
func TestDashboard_browser(t *testing.T) {
	t.Parallel()
	h := startHub(t, nil)
	password := waitLogged(t, h, firstOperatorLine, "the first dashboard user's password is logged once")

	devices := map[string]*paho.Client{}
	for _, id := range []string{"lock-dash-1", "lock-dash-2", "sensor-7"} {
		devices[id] = pahoDevice(t, h, id)
	}
	subscribe(t, devices["lock-dash-1"], "devices/lock-dash-1/command")
	subscribe(t, devices["lock-dash-2"], "devices/lock-dash-2/command")
	pub(t, h, "-q", "1", "-r", "-t", "devices/lock-dash-2/state", "-m", `{"action":"unlock","battery":83.4,"lock_state":1}`)

	// A webhook bridge to a local receiver, fed by the rule made below.
	var hooked sync.WaitGroup
	hooked.Add(1)
	var once sync.Once
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		once.Do(hooked.Done)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	code, body := apiCall(t, h, "POST", "/api/v1/bridges", bootstrapKey(t, h),
		`{"name":"lock_hook","type":"webhook","webhook":{"url":"`+receiver.URL+`/locks/${clientid}"}}`)
	require.Equal(t, http.StatusCreated, code, body)

	b := startBrowser(t)
	base := "http://" + h.api

	t.Run("sign in", func(t *testing.T) {
		b.run(t, "open", chromedp.Navigate(base+"/"), visible("#login-username"))
		b.screenshot(t, "login")
		b.run(t, "wrong password", setValue("#login-username", "admin"), setValue("#login-password", "wrong"), click("#login-submit"))
		b.waitJS(t, "refused", `document.getElementById('login-error').textContent.includes('wrong username or password')`)
		b.run(t, "sign in", setValue("#login-password", password), click("#login-submit"),
			visible(`#nav a[data-page="overview"]`))
		b.waitJS(t, "overview numbers", `(document.querySelector('[data-stat="connections"] .value')||{}).textContent === '3'`)
	})

	t.Run("find a client and kick it", func(t *testing.T) {
		b.run(t, "clients page", chromedp.Navigate(base+"/#/clients"), visible("#clients-search"))
		b.waitJS(t, "all listed", `document.querySelectorAll('#clients-list tr[data-client-id]').length === 3`)
		b.run(t, "search", setValue("#clients-search", "DASH-1"), click("#clients-apply"))
		b.waitJS(t, "found", `document.querySelectorAll('#clients-list tr[data-client-id]').length === 1 && !!document.querySelector('tr[data-client-id="lock-dash-1"]')`)
		b.run(t, "details", click(`tr[data-client-id="lock-dash-1"]`))
		b.waitJS(t, "details shown", `document.getElementById('client-detail').textContent.includes('devices/lock-dash-1/command')`)
		b.screenshot(t, "clients")
		b.run(t, "kick", click("#client-kick"), click("#client-kick")) // the second click confirms
		b.waitJS(t, "gone from the list", `document.querySelector('#clients-list td.empty') !== null && !document.querySelector('tr[data-client-id="lock-dash-1"]')`)
		status, _ := dashboardGet(t, h, "/api/v1/clients/lock-dash-1", "")
		require.Equal(t, http.StatusUnauthorized, status, "no key, no cookie")
		require.Eventually(t, func() bool {
			code, _ := apiCall(t, h, "GET", "/api/v1/clients/lock-dash-1", bootstrapKey(t, h), "")
			return code == http.StatusNotFound
		}, 10*time.Second, 50*time.Millisecond, "the kicked clean session is gone")
	})

	t.Run("client details: will, CONNECT properties, subscriptions paged", func(t *testing.T) {
		// mosquitto_sub sends the will's MQTT 5 properties (paho.golang
		// v0.23 leaves the expiry and content type out).
		s := startSub(t, h, "-V", "mqttv5", "-i", "lock-will-5", "-q", "1", "-t", "devices/lock-will-5/command",
			"--will-topic", "devices/lock-will-5/status", "--will-payload", "offline", "--will-qos", "1", "--will-retain",
			"-D", "will", "will-delay-interval", "30", "-D", "will", "message-expiry-interval", "600",
			"-D", "will", "content-type", "text/plain", "-D", "connect", "receive-maximum", "10",
			"-D", "connect", "user-property", "model", "L7")
		s.waitLine(t, "SUBACK")
		b.run(t, "details", chromedp.Navigate(base+"/#/clients?id=lock-will-5"), visible("#client-will"))
		b.waitJS(t, "will and properties shown", `(t => ['devices/lock-will-5/status', '30s', '600s', 'text/plain', '7 bytes', 'retained'].every(s => t.includes(s)))(document.getElementById('client-will').textContent)`+
			` && (t => t.includes('model = L7') && t.includes('Receive maximum10'))(document.getElementById('client-props').textContent)`)
		b.screenshot(t, "client-details")

		// An offline persistent session with two messages queued: its
		// queue's high-water mark shows.
		offline := startSub(t, h, "-V", "mqttv5", "-i", "peak-dash", "-c", "-x", "3600", "-q", "1", "-t", "devices/peak-dash/command")
		offline.waitLine(t, "SUBACK")
		require.NoError(t, offline.cmd.Process.Kill())
		<-offline.done
		require.Eventually(t, func() bool {
			_, body := apiCall(t, h, "GET", "/api/v1/clients/peak-dash", bootstrapKey(t, h), "")
			return strings.Contains(body, `"connected":false`)
		}, 15*time.Second, 50*time.Millisecond, "peak-dash offline")
		for range 2 {
			pub(t, h, "-q", "1", "-t", "devices/peak-dash/command", "-m", "unlock")
		}
		b.run(t, "offline client", chromedp.Navigate(base+"/#/clients?id=peak-dash"), visible(`#client-detail [data-field="queued-peak"]`))
		b.waitJS(t, "queue peak", `document.querySelector('#client-detail [data-field="queued-peak"]').textContent === '2'`)

		filters := make([]paho.SubscribeOptions, 55)
		for i := range filters {
			filters[i] = paho.SubscribeOptions{Topic: fmt.Sprintf("zz/extra/%02d", i), QoS: 1}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := devices["lock-dash-2"].Subscribe(ctx, &paho.Subscribe{Subscriptions: filters})
		require.NoError(t, err)
		b.run(t, "many subscriptions", chromedp.Navigate(base+"/#/clients?id=lock-dash-2"), visible("#client-subs"))
		b.waitJS(t, "first page", `document.querySelectorAll('#client-subs tr[data-filter]').length === 50 && !!document.querySelector('#client-subs tr[data-filter="devices/lock-dash-2/command"]')`+
			` && document.getElementById('client-detail').textContent.includes('Subscriptions (56)') && document.getElementById('client-will').textContent === 'No will.'`)
		b.run(t, "next page", click("#client-detail .pager button:last-child"))
		b.waitJS(t, "second page", `document.querySelectorAll('#client-subs tr[data-filter]').length === 6 && !!document.querySelector('#client-subs tr[data-filter="zz/extra/54"]')`)
	})

	t.Run("rule editor and metrics", func(t *testing.T) {
		b.run(t, "new rule", chromedp.Navigate(base+"/#/rules?edit=_new"), visible("#rule-sql"),
			setValue("#rule-id", "dash_rule"), setValue("#rule-sql", "SELECT payload.battery AS battery\nFROM \"devices/+/state\"\nWHERE payload.battery < lowr(20)"),
			setValue("#rule-actions", "[]"), click("#rule-test"))
		b.waitJS(t, "error marked", `!!document.querySelector('#rule-sql-error mark') && document.getElementById('rule-error').textContent.includes('3:')`)
		b.run(t, "fix and test", setValue("#rule-sql", "SELECT clientid, payload.battery AS battery\nFROM \"devices/+/state\"\nWHERE payload.battery < 20"),
			setValue("#rule-actions", `[{"type":"bridge","bridge":"lock_hook"}]`), click("#rule-test"))
		b.waitJS(t, "output shown", `(document.getElementById('rule-outputs')||{}).textContent?.includes('12.5')`)
		b.screenshot(t, "rules-editor")
		b.run(t, "create", click("#rule-save"))
		b.waitJS(t, "listed", `(document.querySelector('tr[data-rule="dash_rule"] [data-metric="matched"]')||{}).textContent === '0'`)
		publishQoS1(t, devices["sensor-7"], "devices/sensor-7/state", `{"battery":9}`)
		b.waitJS(t, "metrics moved", `(document.querySelector('tr[data-rule="dash_rule"] [data-metric="matched"]')||{}).textContent === '1'`)
		b.screenshot(t, "rules")
		b.run(t, "disable", click(`tr[data-rule="dash_rule"] button[data-action="disable"]`))
		b.waitJS(t, "disabled", `document.querySelector('tr[data-rule="dash_rule"] .badge')?.textContent === 'disabled'`)
		_, body := apiCall(t, h, "GET", "/api/v1/rules/dash_rule", bootstrapKey(t, h), "")
		require.Contains(t, body, `"enabled":false`)
		b.run(t, "enable", click(`tr[data-rule="dash_rule"] button[data-action="enable"]`))
		b.waitJS(t, "enabled", `document.querySelector('tr[data-rule="dash_rule"] .badge')?.textContent === 'enabled'`)
	})

	t.Run("live messages", func(t *testing.T) {
		b.run(t, "watch", chromedp.Navigate(base+"/#/live?filter=devices/%2B/state"), visible("#live-feed"))
		b.waitJS(t, "watching", `document.getElementById('live-state').textContent.startsWith('watching')`)
		publishQoS1(t, devices["sensor-7"], "devices/sensor-7/state", `{"battery":8,"live":true}`)
		b.waitJS(t, "arrived", `!!document.querySelector('#live-feed .msg[data-topic="devices/sensor-7/state"]') && document.getElementById('live-feed').textContent.includes('"live":true')`)
		b.run(t, "publish from the page", setValue("#pub-topic", "devices/dashboard/state"), setValue("#pub-payload", `{"battery":50}`), click("#pub-send"))
		b.waitJS(t, "own message arrived", `!!document.querySelector('#live-feed .msg[data-topic="devices/dashboard/state"]')`)
		b.screenshot(t, "live")
	})

	t.Run("topic tree", func(t *testing.T) {
		b.run(t, "topics", chromedp.Navigate(base+"/#/topics?parent=devices"), visible("#topic-tree"))
		b.waitJS(t, "retained listed", `!!document.querySelector('#retained-list tr[data-topic="devices/lock-dash-2/state"]')`)
		b.waitJS(t, "counting", `document.querySelector('#topic-tree') && document.querySelector('#topic-tree').textContent.includes('Level')`)
		publishQoS1(t, devices["sensor-7"], "devices/sensor-7/state", `{"battery":7}`)
		b.waitJS(t, "level counted", `!!document.querySelector('#topic-tree tr[data-topic="devices/sensor-7"]')`)
		b.screenshot(t, "topics")
		b.run(t, "view retained", click(`#retained-list tr[data-topic="devices/lock-dash-2/state"] button`))
		b.waitJS(t, "payload shown", `[...document.querySelectorAll('pre')].some(p => p.textContent.includes('"battery":83.4'))`)
		b.run(t, "subscribers", setValue("#subs-topic", "devices/lock-dash-2/command"), click("#subs-topic + button, form.toolbar button[type=submit]"))
		b.waitJS(t, "lock-dash-2 subscribes", `document.getElementById('subscriptions-list').textContent.includes('lock-dash-2')`)
		b.run(t, "delete retained", click(`#retained-list tr[data-topic="devices/lock-dash-2/state"] button.danger`),
			click(`#retained-list tr[data-topic="devices/lock-dash-2/state"] button.danger`))
		b.waitJS(t, "gone", `!!document.querySelector('#retained-list') && !document.querySelector('#retained-list tr[data-topic="devices/lock-dash-2/state"]')`)
		code, _ := apiCall(t, h, "GET", "/api/v1/retained/devices/lock-dash-2/state", bootstrapKey(t, h), "")
		require.Equal(t, http.StatusNotFound, code, "the retained message is deleted")
	})

	t.Run("bridges and security", func(t *testing.T) {
		waitGroup(t, &hooked, "the webhook receiver got the rule's record")
		b.run(t, "bridges", chromedp.Navigate(base+"/#/bridges"), visible(`tr[data-bridge="lock_hook"]`))
		b.waitJS(t, "sent and throughput", `(t => t.includes('webhook') && /\d+\.\d\/s/.test(t))(document.querySelector('tr[data-bridge="lock_hook"]').textContent)`)
		b.screenshot(t, "bridges")
		toggleBridge := func(label, state string, enabled bool) {
			b.run(t, label, click(`tr[data-bridge="lock_hook"] button.change`))
			b.waitJS(t, label, `(r => r.querySelector('.badge')?.textContent === '`+state+`' && r.querySelector('button.change')?.textContent === '`+
				map[bool]string{true: "Disable", false: "Enable"}[enabled]+`')(document.querySelector('tr[data-bridge="lock_hook"]'))`)
			_, body := apiCall(t, h, "GET", "/api/v1/bridges/lock_hook", bootstrapKey(t, h), "")
			require.Contains(t, body, fmt.Sprintf(`"enabled":%t`, enabled))
		}
		toggleBridge("disable the bridge", "stopped", false)
		toggleBridge("enable the bridge", "connected", true)
		b.run(t, "acl", chromedp.Navigate(base+"/#/security"), visible("#acl-topic"),
			setValue("#acl-client", "sensor-7"), setValue("#acl-topic", "$SYS/broker/uptime"), click("#acl-check"))
		b.waitJS(t, "denied", `document.getElementById('acl-result').textContent.includes('denied')`)
		b.screenshot(t, "security")
		b.run(t, "create key", setValue("#key-name", "dashboard-test"), click("#key-create"))
		b.waitJS(t, "key shown once", `(document.getElementById('new-key')||{}).textContent?.includes('ihk_')`)
		b.run(t, "create a read-only key", setValue("#key-name", "grafana"), click("#key-viewer"), click("#key-create"))
		b.waitJS(t, "read-only key listed", `[...document.querySelectorAll('tr')].some(r => r.textContent.includes('grafana') && r.textContent.includes('read-only'))`)
		_, body := apiCall(t, h, "GET", "/api/v1/apikeys", bootstrapKey(t, h), "")
		require.Contains(t, body, `"name":"grafana"`)
		require.Contains(t, body, `"role":"viewer"`)
		b.run(t, "add a viewer", setValue("#operator-name", "vic"), setValue("#operator-password", "vic-looks-only"),
			click("#operator-viewer"), click("#operator-save"))
		b.waitJS(t, "viewer listed", `(document.querySelector('#operators-list tr[data-operator="vic"]')||{}).textContent?.includes('viewer')`)
		_, body = apiCall(t, h, "GET", "/api/v1/dashboard/users", bootstrapKey(t, h), "")
		require.Contains(t, body, `{"username":"vic","role":"viewer"}`)
	})

	t.Run("delete a rule", func(t *testing.T) {
		b.run(t, "rules", chromedp.Navigate(base+"/#/rules"), visible(`tr[data-rule="dash_rule"] button.danger`),
			click(`tr[data-rule="dash_rule"] button.danger`), click(`tr[data-rule="dash_rule"] button.danger`)) // the second click confirms
		b.waitJS(t, "gone", `!document.querySelector('tr[data-rule="dash_rule"]') && document.querySelector('#page td.empty')?.textContent.includes('No rule yet')`)
		code, _ := apiCall(t, h, "GET", "/api/v1/rules/dash_rule", bootstrapKey(t, h), "")
		require.Equal(t, http.StatusNotFound, code, "the rule is deleted")
	})

	t.Run("devices, shadows and jobs", func(t *testing.T) {
		key := bootstrapKey(t, h)
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/api/v1/devices", `{"id":"lock-dash-2","groups":["locks"],"attributes":{"model":"DL-7"}}`},
			{"POST", "/api/v1/devices/lock-dash-2/shadow", `{"state":{"desired":{"lock_state":1},"reported":{"lock_state":0}}}`},
			{"POST", "/api/v1/jobs", `{"job_id":"firmware-1-2","description":"lock firmware 1.2","document":{"operation":"update","version":"1.2"},"targets":["lock-dash-2"]}`},
		} {
			code, body := apiCall(t, h, c.method, c.path, key, c.body)
			require.Less(t, code, 300, "%s %s: %s", c.method, c.path, body)
		}
		b.run(t, "devices", chromedp.Navigate(base+"/#/devices"), visible(`tr[data-device="lock-dash-2"]`), click(`tr[data-device="lock-dash-2"]`))
		b.waitJS(t, "shadow and job shown", `(t => t.includes('lock_state') && t.includes('firmware-1-2') && t.includes('DL-7'))(document.getElementById('device-detail').textContent)`)
		b.screenshot(t, "devices")
		b.run(t, "jobs", chromedp.Navigate(base+"/#/jobs?id=firmware-1-2"), visible(`tr[data-job="firmware-1-2"]`))
		b.waitJS(t, "execution shown", `document.getElementById('job-detail').textContent.includes('lock-dash-2')`)
		b.screenshot(t, "jobs")
	})

	t.Run("cluster", func(t *testing.T) {
		b.run(t, "cluster", chromedp.Navigate(base+"/#/cluster"), visible("#cluster-view .card"))
		b.waitJS(t, "single node", `document.getElementById('cluster-view').textContent.includes('Single node')`)
	})

	t.Run("drops: the clients filter and the chart by reason", func(t *testing.T) {
		// A QoS 0 message for the offline session peak-dash is dropped
		// (qos0_offline) and counted in its session.
		pub(t, h, "-q", "0", "-t", "devices/peak-dash/command", "-m", "unlock")
		b.run(t, "backlog filter", chromedp.Navigate(base+"/#/clients?min_queued=2"), visible("#clients-list"))
		b.waitJS(t, "only peak-dash", `(r => r.length === 1 && r[0].dataset.clientId === 'peak-dash')(document.querySelectorAll('#clients-list tr[data-client-id]'))`)
		b.run(t, "drops filter", chromedp.Navigate(base+"/#/clients?min_dropped=1"), visible("#clients-list"))
		b.waitJS(t, "only peak-dash", `(r => r.length === 1 && r[0].dataset.clientId === 'peak-dash')(document.querySelectorAll('#clients-list tr[data-client-id]'))`)
		// By now the hub's history holds a few points (one every 5 s); the
		// drop shows in the next one.
		b.run(t, "overview", chromedp.Navigate(base+"/#/overview"), visible(`[data-stat="connections"]`))
		b.waitJS(t, "charts drawn", `(document.querySelector('.chart path.line')?.getAttribute('d') || '').split('L').length >= 3`)
		b.waitJS(t, "drops by reason", `[...document.querySelectorAll('.chart')].some(c => c.textContent.includes('Drops per second') && c.textContent.includes('qos0_offline'))`)
		require.True(t, eval[bool](t, b, `(document.getElementById('toasts').replaceChildren(), true)`), "toasts cleared")
		b.screenshot(t, "overview")
	})

	t.Run("clean an offline session", func(t *testing.T) {
		b.run(t, "details", chromedp.Navigate(base+"/#/clients?id=peak-dash"), visible("#client-clean"))
		b.run(t, "clean", click("#client-clean"), click("#client-clean")) // the second click confirms
		b.waitJS(t, "gone from the list", `!document.querySelector('#clients-list tr[data-client-id="peak-dash"]') && !!document.querySelector('#clients-list tr[data-client-id]')`)
		code, _ := apiCall(t, h, "GET", "/api/v1/clients/peak-dash", bootstrapKey(t, h), "")
		require.Equal(t, http.StatusNotFound, code, "the session is discarded")
	})

	t.Run("sign out and be refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
		defer cancel()
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
		require.NoError(t, err)
		var session string
		for _, c := range res.Cookies {
			if c.Name == "iothub_session" {
				session = c.Value
				require.True(t, c.HTTPOnly, "HttpOnly")
				require.Equal(t, network.CookieSameSiteStrict, c.SameSite)
			}
		}
		require.NotEmpty(t, session)
		status, _ := dashboardGet(t, h, "/api/v1/clients", session)
		require.Equal(t, http.StatusOK, status, "the session works before signing out")

		b.run(t, "sign out", click("#logout"), visible("#login-username"))
		code := eval[int](t, b, `fetch('/api/v1/clients').then(r => r.status)`)
		require.Equal(t, http.StatusUnauthorized, code, "refused in the browser")
		status, _ = dashboardGet(t, h, "/api/v1/clients", session)
		require.Equal(t, http.StatusUnauthorized, status, "the old cookie is refused")
		b.run(t, "reload shows sign-in", chromedp.Reload(), visible("#login-username"))
	})

	t.Run("a viewer looks and changes nothing", func(t *testing.T) {
		cmd := exec.Command(hubBinary, "users", "add", "--dashboard", "--viewer", "--data-dir", h.dataDir, "eve")
		cmd.Stdin = strings.NewReader("look-but-do-not-touch\n")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		out, err = exec.Command(hubBinary, "users", "list", "--dashboard", "--data-dir", h.dataDir).CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "admin\tadministrator\n")
		require.Contains(t, string(out), "eve\tviewer\n")
		// The running hub reads the users' file again within a second.
		b.run(t, "sign in as a viewer", chromedp.Navigate(base+"/"), visible("#login-username"))
		b.waitJS(t, "eve signs in", `fetch('/api/v1/auth/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
			body: JSON.stringify({username: 'eve', password: 'look-but-do-not-touch'})}).then(r => r.ok)`)
		b.run(t, "client details", chromedp.Navigate(base+"/#/clients?id=lock-dash-2"), chromedp.Reload(), visible("#who-role"), visible("#client-subs"))
		b.waitJS(t, "no kick button", `!!document.getElementById('client-kick') && getComputedStyle(document.getElementById('client-kick')).display === 'none'`)
		b.run(t, "live page", chromedp.Navigate(base+"/#/live"), visible("#live-feed"))
		b.waitJS(t, "no publish form", `!!document.getElementById('pub-form') && !document.getElementById('pub-form').checkVisibility()`)
		refused := eval[string](t, b, `fetch('/api/v1/auth/session').then(r => r.json()).then(s => fetch('/api/v1/clients/lock-dash-2', {method: 'DELETE', headers: {'X-CSRF-Token': s.csrf_token}})).then(r => r.json()).then(e => e.code)`)
		require.Equal(t, "read_only_role", refused, "the hub refuses a viewer's change")
		code, _ := apiCall(t, h, "GET", "/api/v1/clients/lock-dash-2", bootstrapKey(t, h), "")
		require.Equal(t, http.StatusOK, code, "still connected")
		b.run(t, "sign out", click("#logout"), visible("#login-username"))
	})

	// Last: signing in to another hub on 127.0.0.1 replaces the cookie
	// (cookies do not tell ports apart).
	t.Run("upstream link of an edge", func(t *testing.T) {
		edge := startHub(t, nil, "--config", hubConfig(t, edgeYAML("edge-dash", h.mqtt, `"fleet/#"`, "")))
		edgePassword := waitLogged(t, edge, firstOperatorLine, "the edge's first dashboard user")
		publishQoS1(t, pahoDevice(t, edge, "car-dash"), "fleet/car-dash/speed", `{"kmh":42}`)
		b.run(t, "sign in to the edge", chromedp.Navigate("http://"+edge.api+"/#/upstream"), visible("#login-username"),
			setValue("#login-username", "admin"), setValue("#login-password", edgePassword), click("#login-submit"),
			visible("#upstream-edge"))
		b.waitJS(t, "link and stream shown", `(e => e.querySelector('[data-stat="link"] .badge')?.textContent === 'connected'`+
			` && e.querySelector('[data-stat="sent"] .value')?.textContent === '1' && !!e.querySelector('tr[data-stream]'))(document.getElementById('upstream-edge'))`+
			` && document.getElementById('upstream-centre').textContent.includes('Resends dropped')`)
		b.screenshot(t, "upstream")
		// The centre counted the edge's message.
		code, body := apiCall(t, h, "GET", "/api/v1/upstream", bootstrapKey(t, h), "")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `"checked":1`)
	})

	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(t, b.errors, "the pages raised JavaScript or console errors (a CSP violation shows here)")
}

// TestDashboard_cluster signs in to n1 of a three-node cluster: the
// Cluster page lists the three nodes up and JetStream healthy, and the
// Clients page, which merges every node's clients, says which node holds
// each. It takes the Cluster page's screenshot.
func TestDashboard_cluster(t *testing.T) {
	t.Parallel()
	tc := startTestCluster(t, 3)
	n1 := tc.nodes[0].hub
	password := waitLogged(t, n1, firstOperatorLine, "n1's first dashboard user")
	pahoDevice(t, tc.nodes[1].hub, "lock-on-n2")
	pahoDevice(t, tc.nodes[2].hub, "lock-on-n3")

	b := startBrowser(t)
	base := "http://" + n1.api
	b.run(t, "sign in", chromedp.Navigate(base+"/#/cluster"), visible("#login-username"),
		setValue("#login-username", "admin"), setValue("#login-password", password), click("#login-submit"),
		visible(`#cluster-view tr[data-node="n3"]`))
	b.waitJS(t, "three nodes up", `(v => ['n1', 'n2', 'n3'].every(n => v.querySelector('tr[data-node="' + n + '"] .badge')?.textContent === 'up')`+
		` && v.querySelector('.cards').textContent.includes('healthy'))(document.getElementById('cluster-view'))`)
	b.screenshot(t, "cluster")

	b.run(t, "clients", chromedp.Navigate(base+"/#/clients?search=lock-on"), visible("#clients-search"))
	b.waitJS(t, "each client's node", `(r => r('lock-on-n2')?.textContent.includes('n2') && r('lock-on-n3')?.textContent.includes('n3'))`+
		`(id => document.querySelector('#clients-list tr[data-client-id="' + id + '"]'))`)
	b.run(t, "details", click(`tr[data-client-id="lock-on-n3"]`))
	b.waitJS(t, "details name the node", `document.getElementById('client-detail').textContent.includes('Noden3')`)

	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(t, b.errors, "the pages raised JavaScript or console errors")
}

// waitGroup waits for wg, bounded.
func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("not within 30s: %s", what)
	}
}

// dashboardGet sends GET path with a dashboard session cookie ("": none).
func dashboardGet(t *testing.T, h *hub, path, session string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+h.api+path, nil)
	require.NoError(t, err)
	if session != "" {
		req.AddCookie(&http.Cookie{Name: "iothub_session", Value: session})
	}
	return testutil.Send(t, req)
}

// bootstrapKey returns the first API key the hub logged.
func bootstrapKey(t *testing.T, h *hub) string {
	t.Helper()
	return waitLogged(t, h, firstKeyLine, "the first API key is logged")
}

// waitLogged waits until the hub's log has a line matching re and returns
// the line's first group.
func waitLogged(t *testing.T, h *hub, re *regexp.Regexp, what string) string {
	t.Helper()
	var got string
	require.Eventually(t, func() bool {
		m := re.FindStringSubmatch(h.logs.String())
		if m != nil {
			got = m[1]
		}
		return m != nil
	}, 15*time.Second, 20*time.Millisecond, what)
	return got
}

// subscribe subscribes a paho client at QoS 1.
func subscribe(t *testing.T, c *paho.Client, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	require.NoError(t, err)
}

// publishQoS1 publishes and waits for the PUBACK.
func publishQoS1(t *testing.T, c *paho.Client, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
	require.NoError(t, err)
}
