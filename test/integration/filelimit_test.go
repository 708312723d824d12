package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFileLimit_apiReachableInAConnectionStorm: with mqtt.max_connections
// left at 0, the hub keeps a quarter of its open-files limit (at most 512)
// for everything but MQTT: under `prlimit --nofile=400` it admits 300 MQTT
// connections, refuses the next ones at CONNECT (Server unavailable), and
// the HTTP API still answers while those 300 are held.
func TestFileLimit_apiReachableInAConnectionStorm(t *testing.T) {
	t.Parallel()
	prlimit := tool(t, "prlimit")
	h := &hub{mqtt: anyPort, ws: anyPort, api: anyPort, dataDir: t.TempDir(), wrapper: []string{prlimit, "--nofile=400:400"}}
	launch(t, h, []string{"IOTHUB_API_KEY=" + apiKey})
	require.Contains(t, h.logs.String(), "soft=400")

	const storm, admitted = 330, 300
	accepted, refused := 0, 0
	for i := range storm {
		c, err := net.DialTimeout("tcp", h.mqtt, 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		id := fmt.Sprintf("c%03d", i)
		connect := append([]byte{0x10, byte(12 + len(id)), 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, byte(len(id))}, id...)
		_, err = c.Write(connect)
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
		connack := make([]byte, 4)
		_, err = io.ReadFull(c, connack)
		require.NoError(t, err, "connection %d", i)
		switch connack[3] {
		case 0:
			accepted++
		case 3: // 3.1.1 Server unavailable
			refused++
		default:
			t.Fatalf("connection %d: CONNACK % x", i, connack)
		}
	}
	require.Equal(t, admitted, accepted)
	require.Equal(t, storm-admitted, refused)
	code, body := apiCall(t, h, http.MethodGet, "/api/v1/node", apiKey, "")
	require.Equal(t, http.StatusOK, code, body)
}
