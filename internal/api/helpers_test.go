package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/api"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// env is a broker on a loopback port with the API in front of it on an
// httptest server, and one valid key.
type env struct {
	b      *broker.Server
	mqtt   string
	srv    *httptest.Server
	keys   *api.KeyStore
	key    string
	client *http.Client
}

func newEnv(t testing.TB, configure func(*api.Options)) *env {
	t.Helper()
	b, addr := testutil.StartBroker(t, nil)
	keys, err := api.OpenKeyStore(filepath.Join(t.TempDir(), api.KeyFile))
	require.NoError(t, err)
	key, _, err := keys.Create("test")
	require.NoError(t, err)
	o := api.Options{Broker: b, Keys: keys, Logger: testutil.Logger(t), Version: "test", MaxBodyBytes: 64 << 10}
	if configure != nil {
		configure(&o)
	}
	a := api.New(o)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
	a.Register(mux)
	srv := httptest.NewServer(a.RequireKey(mux, false))
	t.Cleanup(srv.Close)
	return &env{b: b, mqtt: addr, srv: srv, keys: keys, key: key, client: srv.Client()}
}

// call sends a request with the env's key and returns the status and body.
func (e *env) call(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	return e.callKey(t, method, path, body, e.key)
}

func (e *env) callKey(t *testing.T, method, path string, body any, key string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, rd)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

// requireError sends a request with the env's key, requires an error
// answer with status and code, and returns the error object.
func (e *env) requireError(t *testing.T, method, path string, body any, status int, code string) map[string]any {
	t.Helper()
	st, b := e.call(t, method, path, body)
	require.Equal(t, status, st, "%s", b)
	m := obj(t, b)
	require.Equal(t, code, m["code"], "%s", b)
	return m
}

// obj decodes a JSON object answer.
func obj(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "body %s", b)
	return m
}

// device is a paho.golang MQTT 5 client whose publishes arrive on msgs.
type device struct {
	*paho.Client
	msgs chan *paho.Publish
}

// connectDevice connects an MQTT 5 device; manualAck holds its PUBACKs
// until Ack; persistent keeps its session for an hour. It disconnects
// when the test ends.
func connectDevice(t testing.TB, addr, id string, manualAck, persistent bool) *device {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	d := &device{msgs: make(chan *paho.Publish, 100)}
	d.Client = paho.NewClient(paho.ClientConfig{
		Conn:                       nc,
		EnableManualAcknowledgment: manualAck,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			d.msgs <- pr.Packet
			return true, nil
		}},
		OnClientError: func(error) {},
	})
	cp := &paho.Connect{ClientID: id, CleanStart: !persistent, KeepAlive: 30}
	if persistent {
		exp := uint32(3600)
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &exp}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = d.Connect(ctx, cp)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Disconnect(&paho.Disconnect{}) })
	return d
}

func (d *device) subscribe(t *testing.T, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := d.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	require.NoError(t, err)
}

func (d *device) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case p := <-d.msgs:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("the device received nothing within 10s")
		return nil
	}
}

// persistentSession opens a 3.1.1 persistent session for id over raw TCP
// and closes the connection, leaving the session offline.
func persistentSession(t *testing.T, addr, id string) {
	t.Helper()
	nc := rawConnect(t, addr, &packet.Connect{Version: packet.V311, ClientID: id, KeepAlive: 60})
	require.NoError(t, nc.Close())
}

// rawConnect sends cp on a new connection and requires a successful
// CONNACK; the connection closes when the test ends.
func rawConnect(t *testing.T, addr string, cp *packet.Connect) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	b, err := cp.AppendTo(nil, cp.Version)
	require.NoError(t, err)
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = nc.Write(b)
	require.NoError(t, err)
	p, err := packet.ReadPacket(nc, cp.Version, 1<<16)
	require.NoError(t, err)
	ack, ok := p.(*packet.Connack)
	require.True(t, ok)
	require.Equal(t, packet.Success, ack.ReasonCode)
	_ = nc.SetDeadline(time.Time{})
	return nc
}

// apiOptions shortens api.Options in test tables.
type apiOptions = api.Options

func brokerQueryConnected(c bool) broker.ClientQuery {
	return broker.ClientQuery{Connected: &c, Limit: 10}
}
