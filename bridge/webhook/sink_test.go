package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/webhook"
	"github.com/iothub-dev/iothub/internal/testutil"
)

var secret = []byte("shared-secret")

// receiver is an HTTP server that counts TCP connections, checks
// signatures, fails the first failFirst requests with 503 and answers
// 400 for bodies equal to "bad".
type receiver struct {
	srv       *httptest.Server
	conns     atomic.Int64
	calls     atomic.Int64
	badSig    atomic.Int64
	failFirst int64

	mu   sync.Mutex
	got  map[string][]string // key header → bodies, in arrival order
	bad  int
	seen chan struct{}
}

func newReceiver(t *testing.T, failFirst int64) *receiver {
	t.Helper()
	rv := &receiver{failFirst: failFirst, got: map[string][]string{}, seen: make(chan struct{}, 1)}
	rv.srv = httptest.NewUnstartedServer(http.HandlerFunc(rv.handle))
	rv.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			rv.conns.Add(1)
		}
	}
	rv.srv.Start()
	t.Cleanup(rv.srv.Close)
	return rv
}

func (rv *receiver) handle(w http.ResponseWriter, r *http.Request) {
	n := rv.calls.Add(1)
	body, err := webhook.VerifyRequest(r, secret, "", 1<<20)
	if err != nil {
		rv.badSig.Add(1)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if n <= rv.failFirst {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if string(body) == "bad" {
		rv.bad++
		http.Error(w, "bad record", http.StatusBadRequest)
		return
	}
	k := r.Header.Get("X-Device")
	rv.got[k] = append(rv.got[k], string(body))
	select {
	case rv.seen <- struct{}{}:
	default:
	}
}

func (rv *receiver) count() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	n := 0
	for _, v := range rv.got {
		n += len(v)
	}
	return n
}

func newRunner(t *testing.T, s bridge.Sink) *bridge.Runner {
	t.Helper()
	r, err := bridge.NewRunner(s, bridge.Options{Name: "webhook-test", Dir: t.TempDir(), Logger: testutil.Logger(t),
		SendTimeout: 30 * time.Second, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	require.NoError(t, err)
	r.Start()
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func rec(url, device string, i int) bridge.Record {
	return bridge.Record{Topic: url, Key: []byte(device), Value: []byte(strconv.Itoa(i)),
		Headers: []bridge.Header{{Key: "X-Device", Value: []byte(device)}}}
}

// TestSink_poolRetriesOrder: 200 records of 10 devices at once through
// the runner, a pool of 4, the first 5 answers 503: every record arrives,
// each device's in order, over at most 4 connections, all signed.
func TestSink_poolRetriesOrder(t *testing.T) {
	const pool, devices, total = 4, 10, 200
	rv := newReceiver(t, 5)
	s, err := webhook.New(webhook.Options{Secret: secret, PoolSize: pool, Logger: testutil.Logger(t)})
	require.NoError(t, err)
	r := newRunner(t, s)
	recs := make([]bridge.Record, 0, total)
	for i := range total {
		recs = append(recs, rec(rv.srv.URL+"/hook", "lock-"+strconv.Itoa(i%devices), i))
	}
	require.NoError(t, r.Enqueue(recs...))
	testutil.Eventually(t, 60*time.Second, func() bool { return r.Metrics().Sent == total }, "all records sent")
	// At least once: a retried batch repeats records already answered
	// 2xx; each device's first occurrences are in order and complete.
	require.GreaterOrEqual(t, rv.count(), total)
	for d := range devices {
		var want, first []string
		for i := d; i < total; i += devices {
			want = append(want, strconv.Itoa(i))
		}
		seen := map[string]bool{}
		for _, b := range rv.got["lock-"+strconv.Itoa(d)] {
			if !seen[b] {
				seen[b] = true
				first = append(first, b)
			}
		}
		require.Equal(t, want, first, "device %d in order", d)
	}
	require.LessOrEqual(t, rv.conns.Load(), int64(pool), "connections")
	require.Zero(t, rv.badSig.Load())
	m := r.Metrics()
	require.Positive(t, m.Retried, "the 503s were retried")
	require.Empty(t, m.Dropped)
}

// TestSink_4xxNotRetried: a 400 is permanent: counted as failed and
// dropped, sent once.
func TestSink_4xxNotRetried(t *testing.T) {
	rv := newReceiver(t, 0)
	s, err := webhook.New(webhook.Options{Secret: secret, Logger: testutil.Logger(t)})
	require.NoError(t, err)
	r := newRunner(t, s)
	bad := rec(rv.srv.URL, "lock-1", 0)
	bad.Value = []byte("bad")
	require.NoError(t, r.Enqueue(bad))
	testutil.Eventually(t, 60*time.Second, func() bool { return r.Metrics().Dropped[bridge.DropPermanent] == 1 }, "dropped as permanent")
	require.NoError(t, r.Enqueue(rec(rv.srv.URL, "lock-1", 1)))
	testutil.Eventually(t, 60*time.Second, func() bool { return r.Metrics().Sent == 1 }, "the next record sent")
	m := r.Metrics()
	require.EqualValues(t, 1, m.Failed)
	require.Zero(t, m.Retried)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	require.Equal(t, 1, rv.bad, "the 400 record was sent once")
}

// TestSink_errors classifies answers and network errors directly.
func TestSink_errors(t *testing.T) {
	codes := []struct {
		code      int
		permanent bool
	}{{500, false}, {503, false}, {408, false}, {429, false}, {400, true}, {404, true}, {301, true}}
	for _, tc := range codes {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if tc.code == 301 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.code)
			}))
			defer srv.Close()
			s, err := webhook.New(webhook.Options{Method: http.MethodPut})
			require.NoError(t, err)
			err = s.Send(context.Background(), []bridge.Record{rec(srv.URL, "d", 1)})
			require.Error(t, err)
			require.Equal(t, tc.permanent, bridge.IsPermanent(err), "%v", err)
		})
	}
	s, err := webhook.New(webhook.Options{ConnectTimeout: time.Second})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	err = s.Send(context.Background(), []bridge.Record{rec("http://"+addr+"/x", "d", 1)})
	require.Error(t, err, "connection refused")
	require.False(t, bridge.IsPermanent(err))

	require.Error(t, webhook.CheckRecord(&bridge.Record{Topic: "ftp://x/"}))
	require.Error(t, webhook.CheckRecord(&bridge.Record{Topic: "/relative"}))
	require.Error(t, webhook.CheckRecord(&bridge.Record{Topic: "http://h/", Headers: []bridge.Header{{Key: "X", Value: []byte("a\r\nb")}}}))
	require.NoError(t, webhook.CheckRecord(&bridge.Record{Topic: "https://h/p?q=1"}))
}

func TestSignVerify(t *testing.T) {
	body := []byte(`{"battery":83.4}`)
	sig := webhook.Sign(secret, body)
	require.True(t, webhook.Verify(secret, body, sig))
	require.False(t, webhook.Verify(secret, append(body, ' '), sig))
	require.False(t, webhook.Verify([]byte("other"), body, sig))
	require.False(t, webhook.Verify(secret, body, "sha1="+sig[7:]))
	require.False(t, webhook.Verify(secret, body, "sha256=zz"))
	require.Equal(t, fmt.Sprintf("sha256=%064x", 0)[:7], sig[:7])
}
