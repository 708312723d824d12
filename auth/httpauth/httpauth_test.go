package httpauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// service is a fake authentication service that counts TCP connections
// and requests.
type service struct {
	*httptest.Server
	conns    atomic.Int64
	requests atomic.Int64
	mu       sync.Mutex
	last     request
}

func newService(t *testing.T, handle func(w http.ResponseWriter, req request)) *service {
	t.Helper()
	s := &service{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		var req request
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.last = req
		s.mu.Unlock()
		handle(w, req)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// passwords answers allow for password "good" (superuser for "root"),
// ignore for "pass", deny otherwise.
func passwords(w http.ResponseWriter, req request) {
	switch req.Password {
	case "good":
		_ = json.NewEncoder(w).Encode(answer{Result: "allow", ACL: []string{"allow publish devices/%c/state"}})
	case "root":
		_ = json.NewEncoder(w).Encode(answer{Result: "allow", IsSuperuser: true})
	case "pass":
		_ = json.NewEncoder(w).Encode(answer{Result: "ignore"})
	case "bound":
		_ = json.NewEncoder(w).Encode(answer{Result: "allow", ClientIDs: []string{"%u-*", "spare"}})
	case "204":
		w.WriteHeader(http.StatusNoContent)
	case "500":
		w.WriteHeader(http.StatusInternalServerError)
	case "403":
		w.WriteHeader(http.StatusForbidden)
	default:
		_ = json.NewEncoder(w).Encode(answer{Result: "deny"})
	}
}

func ci(clientID, password string) *auth.ConnectInfo {
	return &auth.ConnectInfo{ClientID: clientID, Username: "u", Password: []byte(password),
		RemoteAddr: "192.0.2.7:50000", ProtoVer: 5, Listener: "tcp"}
}

func TestAnswers(t *testing.T) {
	svc := newService(t, passwords)
	a, err := New(Options{URL: svc.URL, CacheTTL: -1})
	require.NoError(t, err)
	defer a.Close()
	tests := []struct {
		password string
		decision auth.Decision
		code     packet.ReasonCode
	}{
		{"good", auth.Allow, 0},
		{"pass", auth.NoOpinion, 0},
		{"204", auth.Allow, 0},
		{"bad", auth.Deny, packet.BadUsernameOrPassword},
		{"403", auth.Deny, packet.NotAuthorized},
		{"500", auth.Deny, packet.ServerUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.password, func(t *testing.T) {
			r := a.Authenticate(context.Background(), ci("lock-1", tc.password))
			require.Equal(t, tc.decision, r.Decision, r.Reason)
			require.Equal(t, tc.code, r.Code)
		})
	}
	r := a.Authenticate(context.Background(), ci("lock-1", "good"))
	require.Equal(t, "lock-1", r.Identity.ClientID)
	require.NotNil(t, r.Identity.Rules)
	require.Len(t, *r.Identity.Rules, 1)
	require.True(t, a.Authenticate(context.Background(), ci("x", "root")).Identity.Superuser)
	svc.mu.Lock()
	require.Equal(t, request{ClientID: "x", Username: "u", Password: "root", PeerAddr: "192.0.2.7:50000",
		PeerIP: "192.0.2.7", Protocol: "mqtt", ProtoVer: 5, Listener: "tcp"}, svc.last)
	svc.mu.Unlock()
}

func TestOnError(t *testing.T) {
	release := make(chan struct{})
	svc := newService(t, func(w http.ResponseWriter, req request) {
		if req.Password == "slow" {
			<-release
		}
		w.WriteHeader(http.StatusBadGateway)
	})
	defer close(release)
	tests := []struct {
		name     string
		onError  string
		password string
		want     auth.Decision
	}{
		{"5xx default deny", "", "x", auth.Deny},
		{"5xx allow", "allow", "x", auth.Allow},
		{"5xx pass", "ignore", "x", auth.NoOpinion},
		{"timeout default deny", "deny", "slow", auth.Deny},
		{"timeout allow", "allow", "slow", auth.Allow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(Options{URL: svc.URL, OnError: tc.onError, Timeout: 100 * time.Millisecond})
			require.NoError(t, err)
			defer a.Close()
			require.Equal(t, tc.want, a.Authenticate(context.Background(), ci("c", tc.password)).Decision)
		})
	}
	a, err := New(Options{URL: svc.URL})
	require.NoError(t, err)
	a.Authenticate(context.Background(), ci("c", "x"))
	a.Authenticate(context.Background(), ci("c", "x"))
	require.Empty(t, a.cache, "failures are not cached")
}

func TestCache(t *testing.T) {
	svc := newService(t, passwords)
	a, err := New(Options{URL: svc.URL})
	require.NoError(t, err)
	defer a.Close()
	for range 5 {
		require.Equal(t, auth.Allow, a.Authenticate(context.Background(), ci("lock-1", "good")).Decision)
	}
	require.Equal(t, int64(1), svc.requests.Load())
	other := ci("lock-1", "good")
	other.RemoteAddr = "192.0.2.7:60000" // a reconnect: new port, same IP
	a.Authenticate(context.Background(), other)
	require.Equal(t, int64(1), svc.requests.Load())
	require.Equal(t, auth.Deny, a.Authenticate(context.Background(), ci("lock-1", "wrong")).Decision)
	require.Equal(t, int64(2), svc.requests.Load(), "another password is another key")
}

// TestReconnectStorm: 10,000 distinct clients authenticating at once open
// no more connections to the service than the pool size.
func TestReconnectStorm(t *testing.T) {
	svc := newService(t, passwords)
	const pool, clients = 8, 10_000
	a, err := New(Options{URL: svc.URL, PoolSize: pool, Timeout: 2 * time.Minute})
	require.NoError(t, err)
	defer a.Close()
	var wg sync.WaitGroup
	var allowed atomic.Int64
	sem := make(chan struct{}, 500) // goroutines in flight, to spare the race detector
	for i := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if a.Authenticate(context.Background(), ci(fmt.Sprintf("lock-%d", i), "good")).Decision == auth.Allow {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(clients), allowed.Load())
	require.Equal(t, int64(clients), svc.requests.Load())
	require.LessOrEqual(t, svc.conns.Load(), int64(pool))
	t.Logf("%d requests over %d connections", svc.requests.Load(), svc.conns.Load())
}

// TestPool_hangingServiceOpensNoMoreConnections: while the service hangs,
// 200 devices that time out open no connection beyond the pool (they were
// 114 for 200 when each timeout cancelled its request); once it answers
// again, the same connections serve every later request, and the answers
// that came after their devices stopped waiting are cached.
func TestPool_hangingServiceOpensNoMoreConnections(t *testing.T) {
	release := make(chan struct{})
	var hung atomic.Int64
	svc := newService(t, func(w http.ResponseWriter, req request) {
		if req.Password == "hang" {
			hung.Add(1)
			<-release
		}
		passwords(w, request{Password: "good"})
	})
	const pool = 4
	a, err := New(Options{URL: svc.URL, PoolSize: pool, Timeout: time.Minute, RequestTimeout: 2 * time.Minute})
	require.NoError(t, err)
	defer a.Close()

	var wg sync.WaitGroup
	var refused atomic.Int64
	for i := range 200 {
		wg.Go(func() {
			// The device's CONNECT waits 50 ms (the broker's context).
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			r := a.Authenticate(ctx, ci(fmt.Sprintf("lock-%d", i), "hang"))
			if r.Decision == auth.Deny && r.Code == packet.ServerUnavailable {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(200), refused.Load(), "every device got on_error (deny) after its timeout")
	require.Eventually(t, func() bool { return hung.Load() == pool }, 10*time.Second, 5*time.Millisecond,
		"the requests that got a slot reach the service")
	require.Equal(t, int64(pool), svc.requests.Load(), "no other request reached it")
	require.LessOrEqual(t, svc.conns.Load(), int64(pool))

	close(release) // the service answers the hung requests; their answers are cached
	require.Eventually(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.cache) == pool
	}, 10*time.Second, 5*time.Millisecond)
	for i := range 100 { // later requests reuse the same connections
		require.Equal(t, auth.Allow, a.Authenticate(context.Background(), ci(fmt.Sprintf("later-%d", i), "good")).Decision)
	}
	require.LessOrEqual(t, svc.conns.Load(), int64(pool))
	t.Logf("%d requests over %d connections", svc.requests.Load(), svc.conns.Load())
}

// TestHTTPS: the service over TLS, with the connection kept across
// requests; a service that closes each connection (Connection: close) is
// followed.
func TestHTTPS(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
		if req.ClientID == "close" {
			w.Header().Set("Connection", "close")
		}
		passwords(w, req)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	a, err := New(Options{URL: srv.URL, PoolSize: 1, CacheTTL: -1, TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	require.NoError(t, err)
	defer a.Close()
	for range 5 {
		require.Equal(t, auth.Allow, a.Authenticate(context.Background(), ci("lock-1", "good")).Decision)
	}
	require.Equal(t, int64(1), conns.Load(), "one kept-alive connection")
	for range 3 {
		require.Equal(t, auth.Allow, a.Authenticate(context.Background(), ci("close", "good")).Decision)
	}
	require.Equal(t, int64(3), conns.Load(), "each Connection: close answer ends its connection (the first one on the kept one)")
}

// TestClientIDs: the service's client_ids bind the user to its client ids
// (%u is the username); the username is the principal.
func TestClientIDs(t *testing.T) {
	svc := newService(t, passwords)
	a, err := New(Options{URL: svc.URL})
	require.NoError(t, err)
	defer a.Close()
	tests := []struct {
		clientID string
		decision auth.Decision
		code     packet.ReasonCode
	}{
		{"u-lock-1", auth.Allow, 0},
		{"spare", auth.Allow, 0},
		{"lock-1", auth.Deny, packet.ClientIdentifierNotValid},
		{"lock-1", auth.Deny, packet.ClientIdentifierNotValid}, // from the cache
	}
	for _, tc := range tests {
		r := a.Authenticate(context.Background(), ci(tc.clientID, "bound"))
		require.Equal(t, tc.decision, r.Decision, "%s: %s", tc.clientID, r.Reason)
		require.Equal(t, tc.code, r.Code)
		if r.Decision == auth.Allow {
			require.Equal(t, "http/user:u", r.Identity.Owner())
		}
	}
}
