package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

func TestAuth_missingOrRevokedKey(t *testing.T) {
	e := newEnv(t, nil)
	st, b := e.callKey(t, http.MethodGet, "/api/v1/node", nil, "")
	require.Equal(t, http.StatusUnauthorized, st)
	require.Equal(t, "unauthorized", obj(t, b)["code"])

	st, _ = e.callKey(t, http.MethodGet, "/api/v1/node", nil, "ihk_not-a-key")
	require.Equal(t, http.StatusUnauthorized, st)

	st, _ = e.callKey(t, http.MethodGet, "/health", nil, "")
	require.Equal(t, http.StatusOK, st, "/health needs no key")
	st, _ = e.callKey(t, http.MethodGet, "/ready", nil, "")
	require.Equal(t, http.StatusOK, st, "/ready needs no key")

	key, info, err := e.keys.Create("ops")
	require.NoError(t, err)
	st, _ = e.callKey(t, http.MethodGet, "/api/v1/node", nil, key)
	require.Equal(t, http.StatusOK, st)
	require.NoError(t, e.keys.Revoke(info.ID))
	st, b = e.callKey(t, http.MethodGet, "/api/v1/node", nil, key)
	require.Equal(t, http.StatusUnauthorized, st, "revoked key: %s", b)
	st, _ = e.callKey(t, http.MethodGet, "/api/v1/node", nil, e.key)
	require.Equal(t, http.StatusOK, st, "the other key still works")
}

func TestErrors_badRequests(t *testing.T) {
	e := newEnv(t, nil)
	connectDevice(t, e.mqtt, "dev", false, false)
	big := `{"topic":"a","payload":"` + strings.Repeat("x", 70<<10) + `"}`
	tests := []struct {
		name, path, body string
		status           int
		code, field      string
	}{
		{"malformed", "/api/v1/publish", `{"topic":`, 400, "bad_request", ""},
		{"not an object", "/api/v1/publish", `[1]`, 400, "bad_request", ""},
		{"empty", "/api/v1/publish", ``, 400, "bad_request", ""},
		{"trailing", "/api/v1/publish", `{"topic":"a"} {}`, 400, "bad_request", ""},
		{"unknown field", "/api/v1/publish", `{"topic":"a","qso":1}`, 400, "invalid_field", "qso"},
		{"qos type", "/api/v1/publish", `{"topic":"a","qos":"1"}`, 400, "invalid_field", "qos"},
		{"qos range", "/api/v1/publish", `{"topic":"a","qos":3}`, 400, "invalid_field", "qos"},
		{"no topic", "/api/v1/publish", `{"payload":"x"}`, 400, "invalid_field", "topic"},
		{"wildcard topic", "/api/v1/publish", `{"topic":"a/#"}`, 400, "invalid_field", "topic"},
		{"encoding", "/api/v1/publish", `{"topic":"a","payload":"x","payload_encoding":"hex"}`, 400, "invalid_field", "payload_encoding"},
		{"base64", "/api/v1/publish", `{"topic":"a","payload":"!!","payload_encoding":"base64"}`, 400, "invalid_field", "payload"},
		{"nested field", "/api/v1/publish", `{"topic":"a","properties":{"message_expiry":-1}}`, 400, "invalid_field", "properties.message_expiry"},
		{"too large", "/api/v1/publish", big, 413, "body_too_large", ""},
		{"batch element", "/api/v1/publish/batch", `[{"topic":"a"},{"topic":"b","qos":"x"}]`, 400, "invalid_field", "qos"},
		{"wait", "/api/v1/devices/dev/commands", `{"wait":"maybe"}`, 400, "invalid_field", "wait"},
		{"acked qos 0", "/api/v1/devices/dev/commands", `{"qos":0,"wait":"acked"}`, 400, "invalid_field", "wait"},
		{"timeout", "/api/v1/devices/dev/commands", `{"timeout":"soon"}`, 400, "invalid_field", "timeout"},
		{"timeout over max", "/api/v1/devices/dev/commands", `{"timeout":"1h"}`, 400, "invalid_field", "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := e.requireError(t, http.MethodPost, tc.path, tc.body, tc.status, tc.code)
			require.NotEmpty(t, m["message"])
			if tc.field != "" {
				require.Equal(t, tc.field, m["field"], "%v", m)
			}
		})
	}
}

func TestErrors_unknownRoutes(t *testing.T) {
	e := newEnv(t, nil)
	e.requireError(t, http.MethodGet, "/api/v1/nothing", nil, http.StatusNotFound, "not_found")
	e.requireError(t, http.MethodGet, "/api/v1/publish", nil, http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestPublish_routedAndBatch(t *testing.T) {
	e := newEnv(t, nil)
	sub := connectDevice(t, e.mqtt, "sub", false, false)
	sub.subscribe(t, "devices/+/state", 1)
	st, b := e.call(t, http.MethodPost, "/api/v1/publish", map[string]any{
		"topic": "devices/l1/state", "payload": "AAEC", "payload_encoding": "base64", "qos": 1,
		"properties": map[string]any{"content_type": "application/octet-stream", "user_properties": map[string]string{"k": "v"},
			"response_topic": "r/t", "correlation_data": "c1", "message_expiry": 60},
	})
	require.Equal(t, http.StatusOK, st, "%s", b)
	require.EqualValues(t, 1, obj(t, b)["routed"])
	p := sub.next(t)
	require.Equal(t, []byte{0, 1, 2}, p.Payload)
	require.Equal(t, "application/octet-stream", p.Properties.ContentType)
	require.Equal(t, "r/t", p.Properties.ResponseTopic)
	require.Equal(t, []byte("c1"), p.Properties.CorrelationData)
	require.Equal(t, "v", p.Properties.User.Get("k"))
	require.NotNil(t, p.Properties.MessageExpiry)

	st, b = e.call(t, http.MethodPost, "/api/v1/publish/batch", `[{"topic":"devices/l2/state","payload":{"a":1}},{"topic":"x/#"}]`)
	require.Equal(t, http.StatusOK, st, "%s", b)
	results := obj(t, b)["results"].([]any)
	require.EqualValues(t, 1, results[0].(map[string]any)["routed"])
	require.Equal(t, "invalid_field", results[1].(map[string]any)["error"].(map[string]any)["code"])
	require.JSONEq(t, `{"a":1}`, string(sub.next(t).Payload))
}

// TestClients_pagination pages through 1,000 sessions with every filter.
func TestClients_pagination(t *testing.T) {
	e := newEnv(t, nil)
	const n = 1000
	for i := range n {
		persistentSession(t, e.mqtt, fmt.Sprintf("dev-%04d", i))
	}
	online := connectDevice(t, e.mqtt, "zz-online", false, false)
	_ = online
	testutil.Eventually(t, 30*time.Second, func() bool {
		page, _ := e.b.Clients(brokerQueryConnected(true))
		return len(page) == 1
	}, "the raw sessions went offline")

	var ids []string
	cur := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 20, "too many pages")
		st, b := e.call(t, http.MethodGet, "/api/v1/clients?client_id_prefix=dev-&limit=128&cursor="+url.QueryEscape(cur), nil)
		require.Equal(t, http.StatusOK, st, "%s", b)
		m := obj(t, b)
		for _, c := range m["data"].([]any) {
			c := c.(map[string]any)
			require.Equal(t, false, c["connected"])
			require.Equal(t, "3.1.1", c["protocol_version"])
			ids = append(ids, c["client_id"].(string))
		}
		next, _ := m["meta"].(map[string]any)["next_cursor"].(string)
		if next == "" {
			break
		}
		cur = next
	}
	require.Len(t, ids, n)
	require.True(t, slices.IsSorted(ids))
	require.Len(t, slices.Compact(slices.Clone(ids)), n, "no duplicates")

	st, b := e.call(t, http.MethodGet, "/api/v1/clients?connected=true", nil)
	require.Equal(t, http.StatusOK, st)
	data := obj(t, b)["data"].([]any)
	require.Len(t, data, 1)
	require.Equal(t, "zz-online", data[0].(map[string]any)["client_id"])

	st, b = e.call(t, http.MethodGet, "/api/v1/clients?limit=0", nil)
	require.Equal(t, http.StatusBadRequest, st)
	require.Equal(t, "limit", obj(t, b)["field"])
}

func TestClients_getKickSubscriptions(t *testing.T) {
	e := newEnv(t, nil)
	lock := connectDevice(t, e.mqtt, "lock-7", false, false)
	lock.subscribe(t, "devices/lock-7/command", 1)

	st, b := e.call(t, http.MethodPost, "/api/v1/clients/lock-7/subscriptions", map[string]any{"filter": "devices/lock-7/config", "qos": 1})
	require.Equal(t, http.StatusCreated, st, "%s", b)
	st, b = e.call(t, http.MethodPost, "/api/v1/clients/lock-7/subscriptions", map[string]any{"filter": "a/#/b"})
	require.Equal(t, http.StatusBadRequest, st)
	require.Equal(t, "filter", obj(t, b)["field"])

	st, b = e.call(t, http.MethodGet, "/api/v1/clients/lock-7", nil)
	require.Equal(t, http.StatusOK, st)
	c := obj(t, b)
	require.Equal(t, true, c["connected"])
	require.Equal(t, "5.0", c["protocol_version"])
	require.Equal(t, "iothub@127.0.0.1", c["node"], "the node holding the session")
	require.EqualValues(t, 30, c["keep_alive"])
	require.NotEmpty(t, c["address"])
	require.Len(t, c["subscriptions"], 2)

	// The server-side subscription delivers.
	st, _ = e.call(t, http.MethodPost, "/api/v1/publish", map[string]any{"topic": "devices/lock-7/config", "payload": "v2", "qos": 1})
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, "v2", string(lock.next(t).Payload))

	st, b = e.call(t, http.MethodGet, "/api/v1/subscriptions?topic=devices/lock-7/config", nil)
	require.Equal(t, http.StatusOK, st)
	require.Len(t, obj(t, b)["data"], 1)
	st, _ = e.call(t, http.MethodDelete, "/api/v1/clients/lock-7/subscriptions?filter="+url.QueryEscape("devices/lock-7/config"), nil)
	require.Equal(t, http.StatusNoContent, st)
	e.requireError(t, http.MethodDelete, "/api/v1/clients/lock-7/subscriptions?filter="+url.QueryEscape("devices/lock-7/config"), nil, http.StatusNotFound, "subscription_not_found")
	st, b = e.call(t, http.MethodGet, "/api/v1/clients/lock-7/subscriptions", nil)
	require.Equal(t, http.StatusOK, st)
	require.Len(t, obj(t, b)["data"], 1)

	st, _ = e.call(t, http.MethodDelete, "/api/v1/clients/lock-7", nil)
	require.Equal(t, http.StatusNoContent, st)
	testutil.Eventually(t, 10*time.Second, func() bool { _, ok := e.b.Client("lock-7"); return !ok }, "clean session removed")
	e.requireError(t, http.MethodGet, "/api/v1/clients/lock-7", nil, http.StatusNotFound, "client_not_found")
}

func TestRetained_listGetDelete(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 5 {
		st, b := e.call(t, http.MethodPost, "/api/v1/publish", map[string]any{"topic": fmt.Sprintf("devices/l%d/state", i), "payload": "s", "retain": true})
		require.Equal(t, http.StatusOK, st, "%s", b)
	}
	st, b := e.call(t, http.MethodGet, "/api/v1/retained?filter="+url.QueryEscape("devices/+/state")+"&limit=3", nil)
	require.Equal(t, http.StatusOK, st, "%s", b)
	m := obj(t, b)
	require.Len(t, m["data"], 3)
	next := m["meta"].(map[string]any)["next_cursor"].(string)
	st, b = e.call(t, http.MethodGet, "/api/v1/retained?filter="+url.QueryEscape("devices/+/state")+"&limit=3&cursor="+next, nil)
	require.Equal(t, http.StatusOK, st)
	require.Len(t, obj(t, b)["data"], 2)

	st, b = e.call(t, http.MethodGet, "/api/v1/retained/devices/l1/state", nil)
	require.Equal(t, http.StatusOK, st, "%s", b)
	require.Equal(t, "s", obj(t, b)["payload"])
	st, _ = e.call(t, http.MethodDelete, "/api/v1/retained/devices/l1/state", nil)
	require.Equal(t, http.StatusNoContent, st)
	e.requireError(t, http.MethodGet, "/api/v1/retained/devices/l1/state", nil, http.StatusNotFound, "retained_not_found")
}

func TestNode_statsAndReady(t *testing.T) {
	ready := false
	e := newEnv(t, nil)
	connectDevice(t, e.mqtt, "n1", false, false)
	st, b := e.call(t, http.MethodGet, "/api/v1/node/stats", nil)
	require.Equal(t, http.StatusOK, st)
	require.EqualValues(t, 1, obj(t, b)["connections"])
	st, b = e.call(t, http.MethodGet, "/api/v1/node", nil)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, "test", obj(t, b)["version"])

	e2 := newEnv(t, func(o *apiOptions) { o.Ready = func() bool { return ready } })
	st, b = e2.callKey(t, http.MethodGet, "/ready", nil, "")
	require.Equal(t, http.StatusServiceUnavailable, st)
	require.Equal(t, "not_ready", obj(t, b)["code"])
}
