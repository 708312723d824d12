package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	tls := func(mod func(l *TLSListener)) func(c *Config) {
		return func(c *Config) {
			l := DefaultTLSListener()
			l.Name, l.CertFile, l.KeyFile = "tls", "testdata/tls/server.crt", "testdata/tls/server.key"
			mod(&l)
			c.Listeners.TLS = []TLSListener{l}
		}
	}
	tests := []struct {
		name string
		mod  func(c *Config)
		want string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"empty node name", func(c *Config) { c.Node.Name = " " }, "node.name: required"},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir: required"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `log.format: "xml" is not one of text, json`},
		{"api address", func(c *Config) { c.API.Address = "localhost" }, `api.address: "localhost" is not host:port`},
		{"port range", func(c *Config) { c.API.Address = ":70000" }, `api.address: ":70000": port must be a number from 0 to 65535`},
		{"named port", func(c *Config) { c.API.Address = ":http" }, `api.address: ":http": port must be a number`},
		{"listener vs api", func(c *Config) { c.Listeners.TCP[0].Address = ":18083" }, `listeners.tcp.0.address: duplicate address ":18083" (also api.address)`},
		{"listener name", func(c *Config) { c.Listeners.WS[0].Name = "" }, "listeners.ws.0.name: required"},
		{"listener conns", func(c *Config) { c.Listeners.TCP[0].MaxConnections = -5 }, "listeners.tcp.0.max_connections: -5 must be at least 0"},
		{"listener packet", func(c *Config) { c.Listeners.WS[0].MaxPacketSize = 8 }, "listeners.ws.0.max_packet_size: 8 is out of range [16, 268435460]"},
		{"trusted proxy", func(c *Config) { c.Listeners.WS[0].TrustedProxies = []string{"10.0.0.0/8", "10.0.0.300"} }, `listeners.ws.0.trusted_proxies.1: "10.0.0.300" is neither`},
		{"empty origin", func(c *Config) { c.Listeners.WS[0].AllowedOrigins = []string{""} }, "listeners.ws.0.allowed_origins.0: empty origin"},
		{"tls ok", tls(func(*TLSListener) {}), ""},
		{"tls dir", tls(func(l *TLSListener) { l.CertFile = "testdata" }), "listeners.tls.0.cert_file: testdata is a directory"},
		{"tls missing ca", tls(func(l *TLSListener) { l.CAFile = "testdata/nope.pem" }), "listeners.tls.0.ca_file: stat testdata/nope.pem"},
		{"tls client auth", tls(func(l *TLSListener) { l.ClientAuth = "optional" }), `listeners.tls.0.client_auth: "optional" is not one of none, request, require`},
		{"tls client auth no ca", tls(func(l *TLSListener) { l.ClientAuth = "require" }), `listeners.tls.0.ca_file: required when client_auth is "require"`},
		{"tls version", tls(func(l *TLSListener) { l.MinVersion = "1.1" }), `listeners.tls.0.min_version: "1.1" is not one of 1.2, 1.3`},
		{"tls identity", tls(func(l *TLSListener) { l.IdentityFrom = "cn" }), `listeners.tls.0.identity_from: "cn" needs client_auth request or require`},
		{"tls identity as", tls(func(l *TLSListener) { l.IdentityAs = "password" }), `listeners.tls.0.identity_as: "password" is not one of username, client_id`},
		{"wss path", func(c *Config) {
			w := DefaultWSSListener()
			w.Name, w.CertFile, w.KeyFile, w.Path = "wss", "testdata/tls/server.crt", "testdata/tls/server.key", ""
			c.Listeners.WSS = []WSSListener{w}
		}, `listeners.wss.0.path: "" must start with /`},
		{"packet size", func(c *Config) { c.MQTT.MaxPacketSize = 300_000_000 }, "mqtt.max_packet_size: 300000000 is out of range"},
		{"inflight", func(c *Config) { c.MQTT.MaxInflight = 0 }, "mqtt.max_inflight: 0 is out of range [1, 65535]"},
		{"queue", func(c *Config) { c.MQTT.MaxQueuedMessages = 0 }, "mqtt.max_queued_messages: 0 must be at least 1"},
		{"backlog", func(c *Config) { c.MQTT.MaxBacklogBytes = -1 }, "mqtt.max_backlog_bytes: -1 must be at least 0"},
		{"policy", func(c *Config) { c.MQTT.QueueFullPolicy = "drop" }, `mqtt.queue_full_policy: "drop" is not one of drop_oldest, drop_new`},
		{"strategy", func(c *Config) { c.MQTT.SharedSubscriptionStrategy = "sticky" }, "mqtt.shared_subscription_strategy:"},
		{"connect timeout", func(c *Config) { c.MQTT.ConnectTimeout = 0 }, "mqtt.connect_timeout: 0s must be at least 1ms"},
		{"keepalive", func(c *Config) { c.MQTT.MaxKeepAlive = Duration(24 * time.Hour) }, "mqtt.max_keepalive: 24h must be between 0s and 18h12m15s"},
		{"negative duration", func(c *Config) { c.MQTT.SysInterval = Duration(-time.Second) }, "mqtt.sys_interval: -1s must be at least 0s"},
		{"alias max", func(c *Config) { c.MQTT.TopicAliasMaximum = 70000 }, "mqtt.topic_alias_maximum: 70000 is out of range"},
		{"event buffer", func(c *Config) { c.MQTT.EventBuffer = 0 }, "mqtt.event_buffer: 0 must be at least 1"},
		{"upstream ok", func(c *Config) {
			c.Upstream.URL = "wss://central:8084/mqtt"
			c.Upstream.Forward = []string{"devices/+/state"}
		}, ""},
		{"upstream scheme", func(c *Config) { c.Upstream.URL = "http://central:80" }, `upstream.url: "http://central:80": the scheme must be mqtt, mqtts, ws or wss`},
		{"upstream port", func(c *Config) { c.Upstream.URL = "mqtt://central" }, `upstream.url: "mqtt://central": no port`},
		{"upstream filter", func(c *Config) { c.Upstream.URL = "mqtt://c:1883"; c.Upstream.Forward = []string{"a/#/b"} }, `upstream.forward.0: "a/#/b"`},
		{"upstream jwt and password", func(c *Config) {
			c.Upstream.URL, c.Upstream.Password, c.Upstream.JWTFile = "mqtt://c:1883", "x", "testdata/tls/server.crt"
		}, "upstream.jwt_file: password and jwt_file exclude each other"},
		{"upstream stream name", func(c *Config) {
			c.Upstream.URL = "mqtt://c:1883"
			c.Upstream.Streams = []UpstreamStream{{Name: "default", Queue: defaultUpstreamQueue()}}
		}, `upstream.streams.0.name: "default": used twice`},
		{"upstream queue policy", func(c *Config) { c.Upstream.URL = "mqtt://c:1883"; c.Upstream.Queue.FullPolicy = "drop" }, `upstream.queue.full_policy: "drop" is not one of drop_oldest, refuse`},
		{"upstream rate", func(c *Config) { c.Upstream.URL = "mqtt://c:1883"; c.Upstream.RateLimit = -1 }, "upstream.rate_limit: -1 must be at least 0"},
		{"edges origins", func(c *Config) { c.Edges.DedupOrigins = 0 }, "edges.dedup_origins: 0 must be at least 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			require.Contains(t, err.Error(), "config: "+tc.want)
		})
	}
}

func TestValidate_reportsAll(t *testing.T) {
	c := Defaults()
	c.Log.Level = "x"
	c.MQTT.MaxInflight = -1
	c.Listeners.WS[0].Path = "x"
	err := c.Validate()
	require.Error(t, err)
	require.Equal(t, 3, strings.Count(err.Error(), "config: "), err.Error())
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0s", "10s": "10s", "168h": "168h", "1h30m": "1h30m", "90s": "1m30s", "1m": "1m", "1.5s": "1.5s", " 2m ": "2m",
	} {
		var d Duration
		require.NoError(t, d.UnmarshalText([]byte(in)), in)
		require.Equal(t, want, d.String(), in)
	}
	var d Duration
	require.Error(t, d.UnmarshalText([]byte("10")))
	require.Error(t, d.UnmarshalText([]byte("")))
}
