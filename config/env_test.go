package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "iothub.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

func TestLoad_precedence(t *testing.T) {
	path := writeFile(t, "mqtt:\n  max_inflight: 10\n  max_queued_messages: 20\n")
	c, err := Load(path, []string{"IOTHUB_MQTT_MAX_INFLIGHT=99", "PATH=/bin", "IOTHUB_DATA_DIR=/srv/iothub"})
	require.NoError(t, err)
	require.Equal(t, 99, c.MQTT.MaxInflight, "env beats file")
	require.Equal(t, 20, c.MQTT.MaxQueuedMessages, "file beats default")
	require.Equal(t, 1000, Defaults().MQTT.MaxQueuedMessages)
	require.Equal(t, "/srv/iothub", c.DataDir, "env beats default")
	require.Equal(t, Defaults().MQTT.MaxTopicLevels, c.MQTT.MaxTopicLevels, "default stays")

	// Flags come last, through Set.
	require.NoError(t, c.Set("mqtt.max_inflight", "7"))
	require.NoError(t, c.Validate())
	require.Equal(t, 7, c.MQTT.MaxInflight)
}

func TestLoad_envTypes(t *testing.T) {
	c, err := Load("", []string{
		"IOTHUB_NODE_NAME=n1@host",
		"IOTHUB_LOG_LEVEL=debug",
		"IOTHUB_MQTT_CONNECT_TIMEOUT=2s",
		"IOTHUB_MQTT_ALLOW_ANONYMOUS=false",
		"IOTHUB_LISTENERS_TCP_0_ADDRESS=:1884",
		"IOTHUB_LISTENERS_WS_0_ALLOWED_ORIGINS= https://a.example , https://b.example ",
		"IOTHUB_LISTENERS_WS_0_TRUSTED_PROXIES=",
	})
	require.NoError(t, err)
	require.Equal(t, "n1@host", c.Node.Name)
	require.Equal(t, "debug", c.Log.Level)
	require.Equal(t, 2*time.Second, c.MQTT.ConnectTimeout.D())
	require.False(t, c.MQTT.AllowAnonymous)
	require.Equal(t, ":1884", c.Listeners.TCP[0].Address)
	require.Equal(t, []string{"https://a.example", "https://b.example"}, c.Listeners.WS[0].AllowedOrigins)
	require.Nil(t, c.Listeners.WS[0].TrustedProxies)
}

func TestLoad_envCreatesFirstListener(t *testing.T) {
	c, err := Load("", []string{
		"IOTHUB_LISTENERS_TLS_0_CERT_FILE=testdata/tls/server.crt",
		"IOTHUB_LISTENERS_TLS_0_KEY_FILE=testdata/tls/server.key",
	})
	require.NoError(t, err)
	want := DefaultTLSListener()
	want.Name, want.CertFile, want.KeyFile = "tls", "testdata/tls/server.crt", "testdata/tls/server.key"
	require.Equal(t, []TLSListener{want}, c.Listeners.TLS)

	// A listener the file removed comes back only through its variables.
	path := writeFile(t, "listeners:\n  ws: []\n")
	_, err = Load(path, []string{"IOTHUB_LISTENERS_WSS_0_ADDRESS=:9443"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "config env IOTHUB_LISTENERS_WSS_0_ADDRESS: listeners.wss.0.cert_file: required")
	c, err = Load(path, []string{
		"IOTHUB_LISTENERS_WSS_0_ADDRESS=:9443",
		"IOTHUB_LISTENERS_WSS_0_CERT_FILE=testdata/tls/server.crt",
		"IOTHUB_LISTENERS_WSS_0_KEY_FILE=testdata/tls/server.key",
	})
	require.NoError(t, err)
	require.Empty(t, c.Listeners.WS)
	require.Equal(t, ":9443", c.Listeners.WSS[0].Address)
	require.Equal(t, "/mqtt", c.Listeners.WSS[0].Path)
}

func TestLoad_badEnv(t *testing.T) {
	tests := []struct{ env, want string }{
		{"IOTHUB_MQTT_MAX_INFLIGHT=many", `config env IOTHUB_MQTT_MAX_INFLIGHT: mqtt.max_inflight: expected an integer, got "many"`},
		{"IOTHUB_MQTT_RETAIN_AVAILABLE=yes please", `config env IOTHUB_MQTT_RETAIN_AVAILABLE: mqtt.retain_available: expected true or false`},
		{"IOTHUB_MQTT_WRITE_TIMEOUT=30", `config env IOTHUB_MQTT_WRITE_TIMEOUT: mqtt.write_timeout: invalid duration "30"`},
		{"IOTHUB_LOG_FORMAT=xml", `config env IOTHUB_LOG_FORMAT: log.format: "xml" is not one of text, json`},
		{"IOTHUB_MQTT_MAX_INFLIGHT=99999999999999999999", `IOTHUB_MQTT_MAX_INFLIGHT: mqtt.max_inflight: expected an integer`},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			_, err := Load("", []string{tc.env})
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestLoad_envBeatsFileInErrors(t *testing.T) {
	// A bad value from the environment is reported against the variable,
	// not against the file line it overrode.
	path := writeFile(t, "log:\n  level: info\n")
	_, err := Load(path, []string{"IOTHUB_LOG_LEVEL=loud"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "config env IOTHUB_LOG_LEVEL: log.level:")
}

func TestSet(t *testing.T) {
	c := Defaults()
	require.NoError(t, c.Set("mqtt.max_session_expiry", "1h"))
	require.Equal(t, time.Hour, c.MQTT.MaxSessionExpiry.D())
	require.NoError(t, c.Set("listeners.tcp.1.address", ":1885"), "index == len appends")
	require.Equal(t, TCPListener{Name: "tcp-1", Address: ":1885"}, c.Listeners.TCP[1])
	require.NoError(t, c.Validate())

	for key, want := range map[string]error{
		"mqtt.max_inflght":         ErrUnknownKey,
		"mqtt":                     ErrUnknownKey,
		"listeners.tcp":            ErrUnknownKey,
		"listeners.tcp.5.address":  ErrUnknownKey,
		"listeners.tcp.x.address":  ErrUnknownKey,
		"listeners.tcp.-1.address": ErrUnknownKey,
		"node.name.x":              ErrUnknownKey,
		"":                         ErrUnknownKey,
		"mqtt.max_inflight":        ErrBadValue,
	} {
		err := c.Set(key, "nope")
		require.ErrorIs(t, err, want, key)
		require.Contains(t, err.Error(), key)
	}
}

func TestDiff(t *testing.T) {
	a := Defaults()
	require.Empty(t, Diff(a, Defaults()))

	b := Defaults()
	b.MQTT.MaxInflight = 64
	b.Listeners.WS[0].AllowedOrigins = []string{"https://x"}
	b.Listeners.TLS = []TLSListener{DefaultTLSListener()}
	b.Listeners.TCP = nil
	require.Equal(t, []string{
		"listeners.tcp.0",
		"listeners.ws.0.allowed_origins",
		"listeners.tls.0",
		"mqtt.max_inflight",
	}, Diff(a, b))

	// nil and empty lists are the same.
	c := Defaults()
	c.Listeners.WS[0].TrustedProxies = []string{}
	require.Empty(t, Diff(a, c))
}

func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{
		"IOTHUB_MQTT_MAX_INFLGHT=1", // typo
		"IOTHUB_MQTT_MAX_INFLIGHT=1",
		"IOTHUB_SERVICE_HOST=10.0.0.1", // Kubernetes service links
		"IOTHUB_SERVICE_PORT=1883",
		"IOTHUB_PORT=tcp://10.0.0.1:1883",
		"IOTHUB_PORT_1883_TCP_ADDR=10.0.0.1",
		"IOTHUB_LISTENERS_TCP_1_ADDRESS=:1", // only index 0
		"HOME=/root",
	})
	require.Equal(t, []string{"IOTHUB_LISTENERS_TCP_1_ADDRESS", "IOTHUB_MQTT_MAX_INFLGHT"}, got)

	// Load ignores them.
	_, err := Load("", []string{"IOTHUB_MQTT_MAX_INFLGHT=1", "IOTHUB_SERVICE_HOST=10.0.0.1"})
	require.NoError(t, err)
}
