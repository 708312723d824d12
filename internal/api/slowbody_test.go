package api_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAuth_401BeforeTheBody: a request without a valid key whose body
// never ends is answered 401 at once, and its connection is closed (the
// server does not wait to drain the body first).
func TestAuth_401BeforeTheBody(t *testing.T) {
	e := newEnv(t, nil)
	for _, auth := range []string{"", "Authorization: Bearer ihk_wrong\r\n"} {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(e.srv.URL, "http://"), 5*time.Second)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte("POST /api/v1/publish HTTP/1.1\r\nHost: x\r\n" + auth +
			"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"topic\":"))
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "the answer comes though the body is unfinished")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.True(t, resp.Close, "Connection: close")
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Contains(t, string(b), `"code":"unauthorized"`)
		_, err = br.ReadByte()
		require.Error(t, err, "the server closed the connection")
		require.False(t, isTimeout(err), "closed, not just silent: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
