package app

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

const testKey = "manage-test-key-0123456789"

// startApp builds and starts an App from cfg with no listener of its own:
// the test serves MQTT on a loopback listener it opened (returned address)
// and the HTTP API on an httptest server (returned URL). Stop shuts it
// down; it also runs when the test ends.
type testHub struct {
	*App
	mqtt, api string
	stop      func()
}

func startApp(t *testing.T, cfg config.Config) *testHub {
	t.Helper()
	cfg.Listeners.TCP, cfg.Listeners.WS, cfg.API.Address = nil, nil, ""
	cfg.API.Key = testKey
	a, err := New(cfg, testutil.Logger(t))
	require.NoError(t, err)
	require.NoError(t, a.Start())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	a.serve(ln, broker.ListenerOptions{Name: "tcp"})
	srv := httptest.NewServer(a.httpHandler())
	done := false
	h := &testHub{App: a, mqtt: ln.Addr().String(), api: srv.URL}
	h.stop = func() {
		if done {
			return
		}
		done = true
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, a.Shutdown(ctx))
	}
	t.Cleanup(h.stop)
	return h
}

// do sends an API request with the test key.
func (h *testHub) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, h.api+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	if resp.StatusCode != http.StatusNoContent {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	}
	return resp.StatusCode, out
}

// TestRulesAPI_surviveRestart creates, disables and lists API rules, stops
// the hub and starts a new one on the same data directory: the API rules
// are back, as they were, next to the configuration rule.
func TestRulesAPI_surviveRestart(t *testing.T) {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Rules.List = []config.Rule{{ID: "from_file", Enabled: true, SQL: `SELECT clientid FROM "devices/+/state"`}}

	h := startApp(t, cfg)
	st, b := h.do(t, "POST", "/api/v1/rules", `{"id":"low","sql":"SELECT clientid, payload.battery AS battery FROM \"devices/+/state\" WHERE payload.battery < 20",
		"actions":[{"type":"republish","topic":"alarms/${clientid}","qos":1}]}`)
	require.Equal(t, http.StatusCreated, st, "%v", b)
	st, b = h.do(t, "POST", "/api/v1/rules", `{"id":"audit","sql":"SELECT * FROM \"$events/message_acked\"","enabled":false}`)
	require.Equal(t, http.StatusCreated, st, "%v", b)
	st, b = h.do(t, "DELETE", "/api/v1/rules/from_file", "")
	require.Equal(t, http.StatusForbidden, st)
	require.Equal(t, "rule_read_only", b["code"])
	h.stop()
	require.FileExists(t, filepath.Join(cfg.DataDir, "rules.json"))

	h = startApp(t, cfg)
	st, b = h.do(t, "GET", "/api/v1/rules", "")
	require.Equal(t, http.StatusOK, st)
	var got []string
	for _, r := range b["data"].([]any) {
		m := r.(map[string]any)
		got = append(got, m["id"].(string)+"/"+m["source"].(string)+"/"+map[bool]string{true: "on", false: "off"}[m["enabled"].(bool)])
	}
	require.Equal(t, []string{"from_file/config/on", "low/api/on", "audit/api/off"}, got)

	// The restored rule runs.
	sub := mqttClient(t, h.mqtt, "watcher", nil)
	subscribe(t, sub, "alarms/#")
	pubAck(t, mqttClient(t, h.mqtt, "lock-1", nil), "devices/lock-1/state", `{"battery":3}`)
	select {
	case p := <-sub.msgs:
		require.Equal(t, "alarms/lock-1", p.Topic)
	case <-time.After(10 * time.Second):
		t.Fatal("no alarm from the restored rule")
	}
	body := h.metricsText(t)
	require.Contains(t, body, `iothub_rule_matched_total{rule="low"} 1`)
	require.Contains(t, body, `iothub_rule_actions_total{result="success",rule="low"} 1`)
	require.Contains(t, body, `iothub_rule_enabled{rule="audit",source="api"} 0`)
}

// metricsText returns the hub's /metrics page.
func (h *testHub) metricsText(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(h.api + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestReload_aclChangeApplied edits the ACL in the configuration file and
// reloads it as SIGHUP does: a publish that was allowed is now refused on
// the same connection (its cached decision is dropped), and the report
// lists the key as applied, not as needing a restart.
func TestReload_aclChangeApplied(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "iothub.yaml")
	write := func(rules string) {
		yaml := "data_dir: " + dir + "\nlisteners: {tcp: [], ws: []}\napi: {address: \"127.0.0.1:0\", key: " + testKey + "}\n" +
			"auth:\n  acl:\n    default: allow\n    rules:" + rules + "\n"
		require.NoError(t, os.WriteFile(file, []byte(yaml), 0o600))
	}
	write(" []")
	load := func() (config.Config, error) {
		c, err := config.Load(file, nil)
		c.API.Address = "" // as startApp: the test serves the API itself
		return c, err
	}
	cfg, err := load()
	require.NoError(t, err)
	h := startApp(t, cfg)

	c := mqttClient(t, h.mqtt, "lock-1", nil)
	require.Less(t, pubAck(t, c, "devices/lock-1/state", "{}"), byte(0x80), "allowed before the reload")

	write(`
      - permission: deny
        who: {all: true}
        action: publish
        topics: ["devices/+/state"]`)
	next, err := load()
	require.NoError(t, err)
	rep := h.Reload(next)
	require.Empty(t, rep.Errors)
	require.Empty(t, rep.NeedRestart)
	require.Contains(t, rep.Applied, "auth.acl.rules.0")
	require.True(t, rep.Security)

	require.Equal(t, byte(packet.NotAuthorized), pubAck(t, c, "devices/lock-1/state", "{}"), "refused after the reload")
	require.Equal(t, uint64(1), h.Broker().Stats().AuthzDeniedPublish)
	require.Contains(t, h.metricsText(t), `iothub_authz_denied_total{action="publish"} 1`)

	// And back, through the SIGHUP path (reloadFrom logs the report).
	write(" []")
	h.reloadFrom(load)
	require.Less(t, pubAck(t, c, "devices/lock-1/state", "{}"), byte(0x80), "allowed again")
}

// TestReload_securityKeys checks which keys a reload applies through
// ReloadSecurity, and that a bad one changes nothing.
func TestReload_securityKeys(t *testing.T) {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Auth.Ban.Static = []config.StaticBan{{Kind: "client_id", Value: "old-lock"}}
	h := startApp(t, cfg)

	next := cfg
	next.Listeners.TCP, next.Listeners.WS, next.API.Address, next.API.Key = nil, nil, "", testKey
	next.Limits.Client.PublishRate = 10
	next.Auth.ACL.DisconnectOnDeny = true
	next.Auth.Ban.Static = nil
	rep := h.Reload(next)
	require.Empty(t, rep.Errors)
	require.ElementsMatch(t, []string{"limits.client.publish_rate", "auth.ban.static.0"}, rep.Applied)
	require.Equal(t, []string{"auth.acl.disconnect_on_deny"}, rep.NeedRestart)
	require.Empty(t, h.Bans().List(), "a static ban taken out of the file is lifted")

	bad := next
	bad.Auth.ACL.Rules = []config.ACLRule{{Permission: "allow", Who: config.ACLWho{All: true}, Action: "publish", Topics: []string{"a/#/b"}}}
	rep = h.Reload(bad)
	require.Len(t, rep.Errors, 1)
	require.Contains(t, rep.Errors[0].Error(), "keep their previous settings")
	require.False(t, rep.Security)
}

// client is a paho.golang MQTT 5 client whose received messages arrive
// on msgs.
type client struct {
	*paho.Client
	msgs chan *paho.Publish
}

func mqttClient(t *testing.T, addr, id string, configure func(*paho.Connect)) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	c := &client{msgs: make(chan *paho.Publish, 16)}
	c.Client = paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {},
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}}})
	cp := &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
	if configure != nil {
		configure(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Connect(ctx, cp)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

func subscribe(t *testing.T, c *client, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	require.NoError(t, err)
}

// pubAck publishes at QoS 1 and returns the PUBACK's reason code (below
// 0x80: accepted; 0x10 is "no matching subscribers").
func pubAck(t *testing.T, c *client, topic, payload string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
	if resp != nil {
		return resp.ReasonCode
	}
	require.NoError(t, err)
	return 0
}
