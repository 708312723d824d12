package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/auth/users"
	"github.com/iothub-dev/iothub/internal/api"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// operators is the dashboard's user store as internal/app wires it: a
// users.Store in a file.
type operators struct{ s *users.Store }

func (o operators) Check(ctx context.Context, u, p string) bool {
	return o.s.Authenticate(ctx, &auth.ConnectInfo{Username: u, Password: []byte(p)}).Decision == auth.Allow
}

func (o operators) Role(u string) (string, bool) {
	x, ok := o.s.Get(u)
	return x.Role, ok
}

func (o operators) ListOperators() []api.Operator {
	var out []api.Operator
	for _, u := range o.s.List() {
		out = append(out, api.Operator{Username: u.Username, Role: u.Role})
	}
	return out
}

func (o operators) PutOperator(u, p, role string) error {
	return o.s.Put(users.User{Username: u, Role: role}, p)
}

func (o operators) RemoveOperator(u string) error { return o.s.Remove(u) }

// dashEnv is an env with a dashboard user "ops" (password "s3cret").
func dashEnv(t *testing.T) (*env, *users.Store) {
	t.Helper()
	s, err := users.Open(users.Options{Path: filepath.Join(t.TempDir(), "dashboard_users.json"), Cost: 4})
	require.NoError(t, err)
	require.NoError(t, s.Add("ops", "s3cret", true))
	return newEnv(t, func(o *api.Options) { o.Operators = operators{s} }), s
}

// cookieReq sends a request with the session cookie and, if set, csrf.
func (e *env) cookieReq(t *testing.T, method, path, body, session, csrf string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if session != "" {
		req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: session})
	}
	if csrf != "" {
		req.Header.Set(api.CSRFHeader, csrf)
	}
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// login signs in and returns the cookie value and the CSRF token.
func (e *env) login(t *testing.T, user, password string) (string, string) {
	t.Helper()
	resp := e.cookieReq(t, http.MethodPost, "/api/v1/auth/login", `{"username":"`+user+`","password":"`+password+`"}`, "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == api.SessionCookie {
			cookie = c
		}
	}
	require.NotNil(t, cookie)
	require.True(t, cookie.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, cookie.SameSite)
	var body struct {
		CSRF string `json:"csrf_token"`
	}
	decodeJSON(t, resp, &body)
	require.NotEmpty(t, body.CSRF)
	return cookie.Value, body.CSRF
}

func TestDashboardSession_signInCSRFSignOut(t *testing.T) {
	e, store := dashEnv(t)
	bad := e.cookieReq(t, http.MethodPost, "/api/v1/auth/login", `{"username":"ops","password":"nope"}`, "", "")
	require.Equal(t, http.StatusUnauthorized, bad.StatusCode)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/auth/login", strings.NewReader("username=ops&password=s3cret"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	form, err := e.client.Do(req)
	require.NoError(t, err)
	_ = form.Body.Close()
	require.Equal(t, http.StatusUnsupportedMediaType, form.StatusCode, "a cross-site form cannot sign in")

	session, csrf := e.login(t, "ops", "s3cret")
	publish := `{"topic":"a/b","payload":"x"}`
	tests := []struct {
		name, method, path, body, session, csrf string
		want                                    int
	}{
		{"read with the cookie", "GET", "/api/v1/clients", "", session, "", http.StatusOK},
		{"no cookie, no key", "GET", "/api/v1/clients", "", "", "", http.StatusUnauthorized},
		{"unknown cookie", "GET", "/api/v1/clients", "", "forged", "", http.StatusUnauthorized},
		{"change without CSRF", "POST", "/api/v1/publish", publish, session, "", http.StatusForbidden},
		{"change with a wrong CSRF", "POST", "/api/v1/publish", publish, session, "wrong", http.StatusForbidden},
		{"change with the CSRF", "POST", "/api/v1/publish", publish, session, csrf, http.StatusOK},
		{"whoami", "GET", "/api/v1/auth/session", "", session, "", http.StatusOK},
		{"sign out without CSRF", "POST", "/api/v1/auth/logout", "", session, "", http.StatusForbidden},
		{"sign out", "POST", "/api/v1/auth/logout", "", session, csrf, http.StatusNoContent},
		{"refused after signing out", "GET", "/api/v1/clients", "", session, "", http.StatusUnauthorized},
		{"whoami after signing out", "GET", "/api/v1/auth/session", "", session, "", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.cookieReq(t, tc.method, tc.path, tc.body, tc.session, tc.csrf)
			require.Equal(t, tc.want, resp.StatusCode)
		})
	}

	// A removed user's sessions end.
	session, _ = e.login(t, "ops", "s3cret")
	require.NoError(t, store.Remove("ops"))
	require.Equal(t, http.StatusUnauthorized, e.cookieReq(t, "GET", "/api/v1/clients", "", session, "").StatusCode)
}

// A viewer's session reads everything and changes nothing, the SQL and
// ACL testers excepted; its role is read on every request, so promoting
// it takes effect at once.
func TestDashboardSession_viewerIsReadOnly(t *testing.T) {
	e, store := dashEnv(t)
	require.NoError(t, store.Put(users.User{Username: "eve", Role: users.RoleViewer}, "look-only"))
	session, csrf := e.login(t, "eve", "look-only")
	var who struct {
		Username, Role string
	}
	e.getJSONCookie(t, "/api/v1/auth/session", session, &who)
	require.Equal(t, "viewer", who.Role)
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"list clients", "GET", "/api/v1/clients", "", http.StatusOK},
		{"node stats", "GET", "/api/v1/node/stats", "", http.StatusOK},
		{"publish", "POST", "/api/v1/publish", `{"topic":"a/b","payload":"x"}`, http.StatusForbidden},
		{"create a key", "POST", "/api/v1/apikeys", `{"name":"mine"}`, http.StatusForbidden},
		{"kick", "DELETE", "/api/v1/clients/nobody", "", http.StatusForbidden},
		{"ban", "POST", "/api/v1/banned", `{"as":"clientid","who":"x"}`, http.StatusForbidden},
		{"SQL tester", "POST", "/api/v1/rules/test", `{"sql":"SELECT * FROM \"t/#\"","context":{"topic":"t/1","payload":"{}"}}`,
			http.StatusServiceUnavailable}, // past the role check: this env runs no rule engine
		{"ACL tester", "POST", "/api/v1/acl/check", `{"client_id":"c","action":"publish","topic":"t/1"}`, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.cookieReq(t, tc.method, tc.path, tc.body, session, csrf)
			body, _ := io.ReadAll(resp.Body)
			require.Equal(t, tc.want, resp.StatusCode, string(body))
			if tc.want == http.StatusForbidden {
				require.Contains(t, string(body), `"read_only_role"`)
			}
		})
	}
	require.NoError(t, store.Put(users.User{Username: "eve"}, "look-only"))
	require.Eventually(t, func() bool {
		return e.cookieReq(t, "POST", "/api/v1/publish", `{"topic":"a/b","payload":"x"}`, session, csrf).StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "an administrator again")
	require.Equal(t, http.StatusNoContent, e.cookieReq(t, "POST", "/api/v1/auth/logout", "", session, csrf).StatusCode)
}

// Dashboard users are managed through the API as with `iothub users
// --dashboard`; the last administrator can be neither removed nor made a
// viewer, and a removed user's session ends.
func TestDashboardUsers_manage(t *testing.T) {
	e, _ := dashEnv(t)
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"add a viewer", "POST", "/api/v1/dashboard/users", `{"username":"eve","password":"look","role":"viewer"}`, http.StatusCreated},
		{"replace it", "POST", "/api/v1/dashboard/users", `{"username":"eve","password":"look2","role":"viewer"}`, http.StatusOK},
		{"bad role", "POST", "/api/v1/dashboard/users", `{"username":"x","password":"y","role":"root"}`, http.StatusBadRequest},
		{"no password", "POST", "/api/v1/dashboard/users", `{"username":"x"}`, http.StatusBadRequest},
		{"demote the last administrator", "POST", "/api/v1/dashboard/users", `{"username":"ops","password":"s3cret","role":"viewer"}`, http.StatusConflict},
		{"remove the last administrator", "DELETE", "/api/v1/dashboard/users/ops", "", http.StatusConflict},
		{"remove nobody", "DELETE", "/api/v1/dashboard/users/nobody", "", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.call(t, tc.method, tc.path, tc.body)
			require.Equal(t, tc.want, status, string(body))
		})
	}
	var list struct {
		Data []api.Operator `json:"data"`
	}
	e.getJSON(t, "/api/v1/dashboard/users", &list)
	require.Equal(t, []api.Operator{{Username: "eve", Role: "viewer"}, {Username: "ops"}}, list.Data)

	session, _ := e.login(t, "eve", "look2")
	status, _ := e.call(t, "DELETE", "/api/v1/dashboard/users/eve", nil)
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, http.StatusUnauthorized, e.cookieReq(t, "GET", "/api/v1/clients", "", session, "").StatusCode)
}

// getJSONCookie GETs path with a session cookie and decodes the 200 answer.
func (e *env) getJSONCookie(t *testing.T, path, session string, v any) {
	t.Helper()
	resp := e.cookieReq(t, http.MethodGet, path, "", session, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	decodeJSON(t, resp, v)
}

func TestDashboardSession_failedSignInsAreLimited(t *testing.T) {
	e, _ := dashEnv(t)
	for range 10 {
		resp := e.cookieReq(t, http.MethodPost, "/api/v1/auth/login", `{"username":"ops","password":"guess"}`, "", "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	resp := e.cookieReq(t, http.MethodPost, "/api/v1/auth/login", `{"username":"ops","password":"s3cret"}`, "", "")
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "even the right password, for a while")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}

func TestDashboardSession_offWithoutOperators(t *testing.T) {
	e := newEnv(t, nil)
	resp := e.cookieReq(t, http.MethodPost, "/api/v1/auth/login", `{"username":"ops","password":"s3cret"}`, "", "")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// The live stream carries the matching messages as Server-Sent Events.
func TestStreamMessages(t *testing.T) {
	e := newEnv(t, nil)
	status, _ := e.call(t, "GET", "/api/v1/messages/stream?filter=a/%23/b", nil)
	require.Equal(t, http.StatusBadRequest, status)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1/messages/stream?filter=devices/%2B/state", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.key)
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	rd := bufio.NewReader(resp.Body)
	first, err := rd.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, ": streaming\n", first, "the tap is in place once the stream answered")
	for _, topic := range []string{"devices/x/other", "devices/lock-1/state"} {
		_, err := e.b.Publish(ctx, &msg.Message{Topic: topic, Payload: []byte(`{"battery":12}`)})
		require.NoError(t, err)
	}
	var lines []string
	for len(lines) < 2 {
		l, err := rd.ReadString('\n')
		require.NoError(t, err)
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	require.Equal(t, "event: message", lines[0])
	require.Contains(t, lines[1], `"topic":"devices/lock-1/state","payload":"{\"battery\":12}"`)
}

// The topic tree counts the messages routed after its first request.
func TestTopicTree(t *testing.T) {
	e := newEnv(t, nil)
	status, _ := e.call(t, "GET", "/api/v1/topics", nil)
	require.Equal(t, http.StatusOK, status)
	for _, topic := range []string{"devices/a/state", "devices/b/state", "devices/a/state", "other"} {
		_, err := e.b.Publish(context.Background(), &msg.Message{Topic: topic, Payload: []byte("1")})
		require.NoError(t, err)
	}
	var top, devices struct {
		Data []struct {
			Topic    string `json:"topic"`
			Messages int    `json:"messages"`
			Children int    `json:"children"`
		} `json:"data"`
	}
	e.getJSON(t, "/api/v1/topics", &top)
	require.Len(t, top.Data, 2)
	require.Equal(t, "devices", top.Data[0].Topic, "busiest first")
	require.Equal(t, 3, top.Data[0].Messages)
	require.Equal(t, 2, top.Data[0].Children)
	e.getJSON(t, "/api/v1/topics?parent=devices", &devices)
	require.Len(t, devices.Data, 2)
	require.Equal(t, "devices/a", devices.Data[0].Topic)
	require.Equal(t, 2, devices.Data[0].Messages)
}

// denyTopic denies publishing to one topic.
type denyTopic string

func (d denyTopic) Authorize(_ context.Context, _ *auth.Identity, a auth.Action, topic string) auth.Decision {
	if a == auth.ActionPublish && topic == string(d) {
		return auth.Deny
	}
	return auth.NoOpinion
}

func TestACLCheck(t *testing.T) {
	rules, err := auth.ParseRules("deny subscribe devices/secret")
	require.NoError(t, err)
	acl, err := auth.NewACL(rules)
	require.NoError(t, err)
	e := newEnv(t, func(o *api.Options) {
		o.ACL = func() auth.Authorizer {
			return &auth.AuthzChain{Authorizers: []auth.Authorizer{denyTopic("secret"), acl}}
		}
	})
	tests := []struct {
		name, body string
		status     int
		allowed    bool
	}{
		{"denied by the ACL", `{"client_id":"c","action":"publish","topic":"secret"}`, 200, false},
		{"allowed", `{"client_id":"c","action":"publish","topic":"open"}`, 200, true},
		{"subscribe allowed", `{"client_id":"c","action":"subscribe","topic":"secret"}`, 200, true},
		{"subscribe, deny rule overlaps", `{"client_id":"c","action":"subscribe","topic":"#"}`, 200, true},
		{"subscribe, deny rule covers", `{"client_id":"c","action":"subscribe","topic":"devices/secret"}`, 200, false},
		{"$-topics refused", `{"client_id":"c","action":"publish","topic":"$SYS/x"}`, 200, false},
		{"bad action", `{"client_id":"c","action":"read","topic":"x"}`, 400, false},
		{"bad ip", `{"action":"publish","topic":"x","ip":"nope"}`, 400, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.call(t, "POST", "/api/v1/acl/check", tc.body)
			require.Equal(t, tc.status, status, string(body))
			if status == 200 {
				require.Equal(t, tc.allowed, obj(t, body)["allowed"])
			}
		})
	}
}

func TestAPIKeys_createListRevoke(t *testing.T) {
	off := newEnv(t, func(o *api.Options) { o.KeyAdmin = nil })
	status, _ := off.call(t, "GET", "/api/v1/apikeys", nil)
	require.Equal(t, http.StatusServiceUnavailable, status)

	e := newEnv(t, func(o *api.Options) { o.KeyAdmin = o.Keys.(*api.KeyStore) })
	status, body := e.call(t, "POST", "/api/v1/apikeys", `{"name":"ci"}`)
	require.Equal(t, http.StatusCreated, status, string(body))
	created := obj(t, body)
	key, id := created["key"].(string), created["id"].(string)
	require.True(t, strings.HasPrefix(key, "ihk_"))
	status, _ = e.callKey(t, "GET", "/api/v1/node", nil, key)
	require.Equal(t, http.StatusOK, status, "the new key works at once")
	status, body = e.call(t, "GET", "/api/v1/apikeys", nil)
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, string(body), key, "listing never shows a key")
	require.NotContains(t, string(body), "sha256:", "nor its hash")
	status, _ = e.call(t, "DELETE", "/api/v1/apikeys/"+id, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = e.callKey(t, "GET", "/api/v1/node", nil, key)
	require.Equal(t, http.StatusUnauthorized, status, "revoked")
	status, _ = e.call(t, "DELETE", "/api/v1/apikeys/"+id, nil)
	require.Equal(t, http.StatusNotFound, status)
}

// decodeJSON decodes a response body into v.
func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

// getJSON GETs path with the env's key and decodes the 200 answer into v.
func (e *env) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	status, body := e.call(t, "GET", path, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	require.NoError(t, json.Unmarshal(body, v))
}

// The dashboard's client filters, and discarding an offline session.
func TestClients_filtersAndDiscard(t *testing.T) {
	e := newEnv(t, nil)
	connectDevice(t, e.mqtt, "Lock-1", false, false)
	persistentSession(t, e.mqtt, "lock-2") // 3.1.1, offline once the test's conn closes
	require.Eventually(t, func() bool {
		ci, ok := e.b.Client("lock-2")
		return ok && !ci.Connected
	}, 10*time.Second, 10*time.Millisecond)
	ids := func(query string) []string {
		var page struct {
			Data []struct {
				ClientID string `json:"client_id"`
			} `json:"data"`
		}
		e.getJSON(t, "/api/v1/clients"+query, &page)
		out := []string{}
		for _, c := range page.Data {
			out = append(out, c.ClientID)
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"?search=LOCK", []string{"Lock-1", "lock-2"}},
		{"?protocol=3.1.1", []string{"lock-2"}},
		{"?connected=false", []string{"lock-2"}},
		{"?address=127.0.0.1", []string{"Lock-1"}},
		{"?min_queued=1", []string{}},
		{"?min_dropped=1", []string{}},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, ids(tc.query), tc.query)
	}
	for _, bad := range []string{"?protocol=4", "?min_queued=-1", "?min_dropped=x"} {
		status, _ := e.call(t, "GET", "/api/v1/clients"+bad, nil)
		require.Equal(t, http.StatusBadRequest, status, bad)
	}
	status, _ := e.call(t, "DELETE", "/api/v1/clients/Lock-1/session", nil)
	require.Equal(t, http.StatusConflict, status, "connected: kick first")
	status, _ = e.call(t, "DELETE", "/api/v1/clients/lock-2/session", nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = e.call(t, "DELETE", "/api/v1/clients/lock-2/session", nil)
	require.Equal(t, http.StatusNotFound, status)
}

// A stream outlives the server's read timeout (api.read_timeout, 30 s by
// default, bounds reading a request; a stream lasts 30 minutes).
func TestStreamMessages_outlivesReadTimeout(t *testing.T) {
	e := newEnv(t, nil)
	srv := httptest.NewUnstartedServer(e.srv.Config.Handler)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/messages/stream?filter=late", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.key)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	_, err = rd.ReadString('\n')
	require.NoError(t, err)
	start := time.Now()
	time.Sleep(3 * srv.Config.ReadTimeout) // the deadline must pass: nothing to await but time
	_, err = e.b.Publish(ctx, &msg.Message{Topic: "late", Payload: []byte("still here")})
	require.NoError(t, err)
	for {
		l, err := rd.ReadString('\n')
		require.NoError(t, err, "the stream ended %v after it began", time.Since(start))
		if strings.Contains(l, "still here") {
			return
		}
	}
}

// A connected client's details show its will and MQTT 5 CONNECT
// properties as sent; a 3.1.1 client without a will shows neither.
func TestClient_willAndConnectProperties(t *testing.T) {
	e := newEnv(t, nil)
	rawConnect(t, e.mqtt, &packet.Connect{Version: packet.V5, ClientID: "lock-9", KeepAlive: 60, CleanStart: true,
		Properties: packet.Properties{SessionExpiry: 600, HasSessionExpiry: true, ReceiveMaximum: 8,
			User: []packet.UserProperty{{Key: "model", Value: "L9"}, {Key: "model", Value: "L9b"}}},
		WillFlag: true, WillQoS: 1, WillRetain: true, WillTopic: "devices/lock-9/status", WillPayload: []byte("offline"),
		WillProperties: packet.Properties{WillDelay: 5, MessageExpiry: 120, HasMessageExpiry: true, ContentType: "text/plain"}})
	rawConnect(t, e.mqtt, &packet.Connect{Version: packet.V311, ClientID: "plain-1", KeepAlive: 60, CleanStart: true})

	var got map[string]any
	e.getJSON(t, "/api/v1/clients/lock-9", &got)
	require.Equal(t, map[string]any{"topic": "devices/lock-9/status", "qos": 1.0, "retain": true, "delay_seconds": 5.0,
		"payload_size": 7.0, "message_expiry": 120.0, "content_type": "text/plain"}, got["will"])
	require.Equal(t, map[string]any{"session_expiry": 600.0, "receive_maximum": 8.0, "user_properties": []any{
		map[string]any{"key": "model", "value": "L9"}, map[string]any{"key": "model", "value": "L9b"}}}, got["connect_properties"])

	got = nil
	e.getJSON(t, "/api/v1/clients/plain-1", &got)
	require.NotContains(t, got, "will")
	require.NotContains(t, got, "connect_properties")
}
