package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBruteForce_throttledPerUsername is issue 14's "20
// guesses from 20 addresses" with the default throttle: mosquitto_pub
// guesses lock-a's password from 127.0.0.2 … 127.0.0.21; 5 guesses are
// checked (bad user name or password), the other 15 are refused at once
// (0x9F connection rate exceeded; 3.1.1: server unavailable). Lock A,
// which logged in from 127.0.0.1 before, still logs in from there.
func TestBruteForce_throttledPerUsername(t *testing.T) {
	t.Parallel()
	h := hubWith(t, "auth:\n  chain: [users]\n")
	addUser(t, h.dataDir, "lock-a", "pw-a")
	login := func(addr, version, password string) (string, error) {
		return mosquitto(t, h, "mosquitto_pub", "-A", addr, "-V", version, "-i", "lock-a", "-u", "lock-a", "-P", password,
			"-t", "devices/lock-a/state", "-m", "x")
	}
	out, err := login("127.0.0.1", "mqttv5", "pw-a")
	require.NoError(t, err, out)

	checked, throttled := 0, 0
	for i := range 20 {
		version := "mqttv5"
		if i%2 == 1 {
			version = "mqttv311"
		}
		out, err := login(fmt.Sprintf("127.0.0.%d", i+2), version, "guess")
		require.Error(t, err)
		out = strings.ToLower(out)
		switch {
		case strings.Contains(out, "bad user name or password"):
			checked++
		case strings.Contains(out, "connection rate exceeded"), strings.Contains(out, "unavailable"):
			throttled++
		default:
			t.Fatalf("guess %d: %s", i+1, out)
		}
	}
	require.Equal(t, 5, checked)
	require.Equal(t, 15, throttled)
	out, err = login("127.0.0.1", "mqttv5", "pw-a")
	require.NoError(t, err, "lock A from its own address: %s", out)
	require.Equal(t, 15.0, metric(t, h, `iothub_auth_failures_total{reason="connection_rate_exceeded"}`))
	require.Equal(t, 5.0, metric(t, h, `iothub_auth_failures_total{reason="bad_user_name_or_password"}`))
}
