package api_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/auth/users"
	"github.com/iothub-dev/iothub/internal/api"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// securityEnv is a broker whose authenticator checks bans and a user
// store (anonymous clients allowed or not), with the API over both.
func securityEnv(t *testing.T, anonymous bool) (*env, *auth.BanList, *users.Store) {
	t.Helper()
	bans := auth.NewBanList()
	hash, err := users.HashPassword("static-pw", 4)
	require.NoError(t, err)
	store, err := users.Open(users.Options{Path: filepath.Join(t.TempDir(), users.FileName), Cost: 4,
		Static: []users.User{{Username: "ops", PasswordHash: hash}}})
	require.NoError(t, err)
	b, addr := testutil.StartBroker(t, func(o *broker.Options) {
		o.Authenticator = &auth.AuthnChain{Bans: bans, AllowAnonymous: anonymous, Authenticators: []auth.Authenticator{store}}
	})
	keys, err := api.OpenKeyStore(filepath.Join(t.TempDir(), api.KeyFile))
	require.NoError(t, err)
	key, _, err := keys.Create("test")
	require.NoError(t, err)
	a := api.New(api.Options{Broker: b, Keys: keys, Logger: testutil.Logger(t),
		Bans: func() api.BanManager { return bans }, Users: func() api.UserManager { return store }})
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(a.RequireKey(mux, false))
	t.Cleanup(srv.Close)
	return &env{b: b, mqtt: addr, srv: srv, keys: keys, key: key, client: srv.Client()}, bans, store
}

// tryConnect connects an MQTT 5 client with paho and returns the CONNACK
// reason code (0 when accepted; the client then disconnects at the end of
// the test).
func tryConnect(t *testing.T, addr, id, username, password string) byte {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {}})
	cp := &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
	if username != "" {
		cp.Username, cp.UsernameFlag = username, true
		cp.Password, cp.PasswordFlag = []byte(password), true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err == nil {
		t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
		return 0
	}
	_ = nc.Close()
	require.NotNil(t, ack, "no CONNACK: %v", err)
	return ack.ReasonCode
}

func TestBans_connectRefusedThenAllowed(t *testing.T) {
	e, _, _ := securityEnv(t, true)
	tests := []struct {
		name, kind, value, deletePath string
		id, user, pass                string
	}{
		{"client id", "client_id", "lock-7", "/api/v1/bans/client_id/lock-7", "lock-7", "", ""},
		{"username", "username", "ops", "/api/v1/bans/username/ops", "c-ops", "ops", "static-pw"},
		{"address", "address", "127.0.0.0/8", "/api/v1/bans/address/127.0.0.0/8", "any", "", ""},
		{"address one", "address", "127.0.0.1", "/api/v1/bans/address/127.0.0.1", "any2", "", ""},
		{"address escaped", "address", "127.0.0.0/24", "/api/v1/bans/address/127.0.0.0%2F24", "any3", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Zero(t, tryConnect(t, e.mqtt, tc.id, tc.user, tc.pass), "allowed before the ban")
			st, b := e.call(t, http.MethodPost, "/api/v1/bans", map[string]any{"kind": tc.kind, "value": tc.value,
				"reason": "test", "duration": "1h"})
			require.Equal(t, http.StatusCreated, st, "%s", b)
			got := obj(t, b)
			require.Equal(t, tc.value, got["value"])
			require.NotEmpty(t, got["until"])
			require.Equal(t, byte(packet.Banned), tryConnect(t, e.mqtt, tc.id, tc.user, tc.pass), "refused while banned")

			st, b = e.call(t, http.MethodGet, "/api/v1/bans", nil)
			require.Equal(t, http.StatusOK, st)
			require.Len(t, obj(t, b)["data"], 1)

			st, b = e.call(t, http.MethodDelete, tc.deletePath, nil)
			require.Equal(t, http.StatusNoContent, st, "%s", b)
			require.Zero(t, tryConnect(t, e.mqtt, tc.id, tc.user, tc.pass), "allowed after the ban is lifted")
			e.requireError(t, http.MethodDelete, tc.deletePath, nil, http.StatusNotFound, "ban_not_found")
		})
	}
}

func TestBans_disconnectsConnectedClient(t *testing.T) {
	e, _, _ := securityEnv(t, true)
	nc, err := net.DialTimeout("tcp", e.mqtt, 5*time.Second)
	require.NoError(t, err)
	gone := make(chan byte, 1)
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {},
		OnServerDisconnect: func(d *paho.Disconnect) { gone <- d.ReasonCode }})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = c.Connect(ctx, &paho.Connect{ClientID: "noisy", CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	st, b := e.call(t, http.MethodPost, "/api/v1/bans", map[string]any{"kind": "client_id", "value": "noisy"})
	require.Equal(t, http.StatusCreated, st, "%s", b)
	require.EqualValues(t, 1, obj(t, b)["disconnected"])
	select {
	case code := <-gone:
		require.Equal(t, byte(packet.AdministrativeAction), code)
	case <-time.After(10 * time.Second):
		t.Fatal("the banned client was not disconnected")
	}
	require.Nil(t, obj(t, b)["until"], "no expiry: never")
}

func TestBans_badRequests(t *testing.T) {
	e, _, _ := securityEnv(t, true)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"kind", map[string]any{"kind": "ip", "value": "1.2.3.4"}, "kind"},
		{"empty value", map[string]any{"kind": "client_id", "value": ""}, "value"},
		{"bad address", map[string]any{"kind": "address", "value": "10.0.0.300"}, "value"},
		{"bad cidr", map[string]any{"kind": "address", "value": "10.0.0.0/33"}, "value"},
		{"duration", map[string]any{"kind": "client_id", "value": "x", "duration": "forever"}, "duration"},
		{"negative duration", map[string]any{"kind": "client_id", "value": "x", "duration": "-1h"}, "duration"},
		{"both", map[string]any{"kind": "client_id", "value": "x", "duration": "1h", "until": "2099-01-01T00:00:00Z"}, "duration"},
		{"past", map[string]any{"kind": "client_id", "value": "x", "until": past}, "until"},
		{"until type", map[string]any{"kind": "client_id", "value": "x", "until": "tomorrow"}, ""},
		{"unknown", map[string]any{"kind": "client_id", "value": "x", "expires": "1h"}, "expires"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, b := e.call(t, http.MethodPost, "/api/v1/bans", tc.body)
			require.Equal(t, http.StatusBadRequest, st, "%s", b)
			if tc.field != "" {
				require.Equal(t, tc.field, obj(t, b)["field"], "%s", b)
			}
		})
	}
}

func TestUsers_createLoginDelete(t *testing.T) {
	e, _, store := securityEnv(t, false)
	require.Equal(t, byte(packet.BadUsernameOrPassword), tryConnect(t, e.mqtt, "c1", "lock-owner", "s3cret"))

	st, b := e.call(t, http.MethodPost, "/api/v1/users", map[string]any{"username": "lock-owner", "password": "s3cret"})
	require.Equal(t, http.StatusCreated, st, "%s", b)
	require.Equal(t, map[string]any{"username": "lock-owner", "superuser": false, "source": "file"}, obj(t, b))
	require.Zero(t, tryConnect(t, e.mqtt, "c1", "lock-owner", "s3cret"), "the new user logs in")
	require.Equal(t, byte(packet.BadUsernameOrPassword), tryConnect(t, e.mqtt, "c2", "lock-owner", "wrong"))

	st, b = e.call(t, http.MethodPost, "/api/v1/users", map[string]any{"username": "lock-owner", "password": "n3w", "superuser": true})
	require.Equal(t, http.StatusOK, st, "replaced: %s", b)
	require.Zero(t, tryConnect(t, e.mqtt, "c3", "lock-owner", "n3w"), "the new password works")

	st, b = e.call(t, http.MethodGet, "/api/v1/users", nil)
	require.Equal(t, http.StatusOK, st)
	require.NotContains(t, string(b), "$2", "no bcrypt hash in answers")
	require.NotContains(t, string(b), "password")
	require.JSONEq(t, `{"data":[{"username":"ops","superuser":false,"source":"config"},
		{"username":"lock-owner","superuser":true,"source":"file"}]}`, string(b))

	st, _ = e.call(t, http.MethodDelete, "/api/v1/users/lock-owner", nil)
	require.Equal(t, http.StatusNoContent, st)
	require.Equal(t, byte(packet.BadUsernameOrPassword), tryConnect(t, e.mqtt, "c4", "lock-owner", "n3w"), "removed")
	require.Len(t, store.List(), 1)

	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"missing", "DELETE", "/api/v1/users/nobody", nil, 404, "user_not_found"},
		{"static delete", "DELETE", "/api/v1/users/ops", nil, 403, "user_read_only"},
		{"static replace", "POST", "/api/v1/users", map[string]any{"username": "ops", "password": "x"}, 403, "user_read_only"},
		{"no password", "POST", "/api/v1/users", map[string]any{"username": "a"}, 400, "invalid_field"},
		{"no username", "POST", "/api/v1/users", map[string]any{"password": "a"}, 400, "invalid_field"},
		{"hash field refused", "POST", "/api/v1/users", map[string]any{"username": "a", "password": "b", "password_hash": "x"}, 400, "invalid_field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.requireError(t, tc.method, tc.path, tc.body, tc.status, tc.code)
		})
	}
}

func TestUsers_disabled(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.Users = func() api.UserManager { return nil } })
	e.requireError(t, http.MethodGet, "/api/v1/users", nil, http.StatusConflict, "users_disabled")
}
