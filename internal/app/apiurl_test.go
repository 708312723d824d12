package app

import (
	"testing"

	"github.com/iothub-dev/iothub/config"

	"github.com/stretchr/testify/require"
)

func TestLocalAPIURL(t *testing.T) {
	tests := []struct {
		addr string
		tls  bool
		want string
	}{
		{":18083", false, "http://localhost:18083/"},
		{"0.0.0.0:18083", true, "https://localhost:18083/"},
		{"[::]:18083", false, "http://localhost:18083/"},
		{"10.0.0.5:80", false, "http://10.0.0.5:80/"},
		{"[fd00::1]:18083", false, "http://[fd00::1]:18083/"},
		{"hub.example:18083", false, "http://hub.example:18083/"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, localAPIURL(config.API{Address: tc.addr, TLSCertFile: map[bool]string{true: "cert.pem"}[tc.tls]}), tc.addr)
	}
}
