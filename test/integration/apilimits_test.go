package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// openFiles counts the hub process's open file descriptors.
func (h *hub) openFiles(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", h.cmd.Process.Pid))
	require.NoError(t, err)
	return len(ents)
}

// slowRequest opens a connection and sends a POST whose declared body is
// never finished.
func slowRequest(t *testing.T, h *hub, auth string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", h.api, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	if auth != "" {
		auth = "Authorization: Bearer " + auth + "\r\n"
	}
	_, err = c.Write([]byte("POST /api/v1/publish HTTP/1.1\r\nHost: hub\r\n" + auth +
		"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"topic\":\"a\","))
	require.NoError(t, err)
	return c
}

// answer reads the HTTP answer on c (bounded wait) and whether the hub
// closed the connection after it.
func answer(t *testing.T, c net.Conn) (status int, closed bool) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "an answer")
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	_, err = br.ReadByte()
	return resp.StatusCode, err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestAPI_slowClientsHoldNothing: the attacks of issue 14 on the API port.
// Unauthenticated requests whose body never ends get their 401 at once
// and are closed; an authenticated one that stalls is cut off by
// read_timeout, one that never finishes its headers by
// read_header_timeout; one address cannot open more than
// max_connections_per_address. The connections are released: the open
// count and the hub's file descriptors come back down.
func TestAPI_slowClientsHoldNothing(t *testing.T) {
	t.Parallel()
	const key = "ihk_integration-test-key-0123456789"
	cfg := writeConfig(t, `
api:
  read_header_timeout: 5s
  read_timeout: 6s
  idle_timeout: 5s
  max_connections_per_address: 60
`)
	h := startHub(t, []string{"IOTHUB_API_KEY=" + key}, "--config", cfg)
	const open = `iothub_http_connections{listener="api"}`
	files := h.openFiles(t)

	// 50 unauthenticated slow bodies: each is answered 401 and closed.
	conns := make([]net.Conn, 50)
	for i := range conns {
		conns[i] = slowRequest(t, h, "")
	}
	for _, c := range conns {
		st, closed := answer(t, c)
		require.Equal(t, http.StatusUnauthorized, st)
		require.True(t, closed, "the hub closed the connection after the 401")
	}
	testutil.Eventually(t, 20*time.Second, func() bool { return metric(t, h, open) == 1 }, "only the scrape's own connection is open")

	// An authenticated request that stalls in its body is cut off.
	c := slowRequest(t, h, key)
	st, closed := answer(t, c)
	require.Equal(t, http.StatusBadRequest, st, "the body could not be read in read_timeout")
	require.True(t, closed)

	// A client that never finishes its headers is closed.
	c, err := net.DialTimeout("tcp", h.api, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET /health HTTP/1.1\r\nHost: hub\r\n"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = io.ReadAll(c)
	require.False(t, isTimeout(err), "closed by the hub, not by the test's deadline")

	// One address: 60 connections are served, the 61st is closed at once.
	held := make([]net.Conn, 60)
	for i := range held {
		held[i], err = net.DialTimeout("tcp", h.api, 5*time.Second)
		require.NoError(t, err)
		defer held[i].Close()
	}
	extra, err := net.DialTimeout("tcp", h.api, 5*time.Second)
	if err == nil { // a reset may already fail the dial
		defer extra.Close()
		require.NoError(t, extra.SetReadDeadline(time.Now().Add(30*time.Second)))
		_, err = extra.Read(make([]byte, 1))
		require.Error(t, err)
		require.False(t, isTimeout(err), "closed by the hub")
	}
	for _, c := range held {
		_ = c.Close()
	}
	// The hub notices the closes as it reads: until then a scrape may be
	// the 61st connection and be refused itself.
	testutil.Eventually(t, 20*time.Second, func() bool {
		code, body := httpGet("http://" + h.api + "/metrics") // one kept-alive connection: the scrape's
		return code == http.StatusOK && strings.Contains(body, open+" 1\n")
	}, "every connection released")
	require.GreaterOrEqual(t, metric(t, h, `iothub_http_connections_refused_total{listener="api",reason="max_connections_per_address"}`), 1.0)
	testutil.Eventually(t, 20*time.Second, func() bool { return h.openFiles(t) <= files+2 },
		"the hub's file descriptors come back down")
	t.Logf("open files: %d at start, %d at the end", files, h.openFiles(t))
}
