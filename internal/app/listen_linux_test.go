package app

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// listenMQTT's connections come without TCP keep-alive probes (the MQTT
// keep alive finds dead peers; the broker turns probes on for keep alive
// 0), except behind the PROXY protocol, where the broker cannot reach the
// socket and Go's default stays.
func TestListenMQTT_keepAliveProbes(t *testing.T) {
	for _, tc := range []struct {
		name          string
		proxyProtocol bool
		want          int
	}{
		{"direct: off", false, 0},
		{"behind the PROXY protocol: Go's default", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := listenMQTT("127.0.0.1:0", tc.proxyProtocol)
			require.NoError(t, err)
			defer ln.Close()
			client, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			require.NoError(t, err)
			defer client.Close()
			c, err := ln.Accept()
			require.NoError(t, err)
			defer c.Close()
			require.Equal(t, tc.want, testutil.SoKeepAlive(t, c))
		})
	}
}
