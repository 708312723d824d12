package config

import (
	"strings"
	"time"
)

// API configures the HTTP API (docs/http-api.md): its listener, the
// bootstrap key, request limits and the device command defaults.
type API struct {
	// Address is the host:port of the HTTP API.
	Address string `yaml:"address"`
	// Key is a bootstrap API key accepted besides the keys in
	// <data_dir>/apikeys.json, for automation (IOTHUB_API_KEY). It is a
	// Secret: `iothub config check` prints it redacted.
	Key Secret `yaml:"key"`
	// TLSCertFile and TLSKeyFile serve the API over HTTPS when both are set.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// MaxBodyBytes caps a request body.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// ReadHeaderTimeout bounds reading a request's headers (and the TLS
	// handshake).
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout Duration `yaml:"read_timeout"`
	// IdleTimeout closes a kept-alive connection with no request for this
	// long.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxConnections bounds the connections open to the API port (0: no
	// bound).
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerAddress bounds the connections open from one IP
	// address (0: no bound).
	MaxConnectionsPerAddress int `yaml:"max_connections_per_address"`
	// CommandTopic is the topic a device command goes to when the request
	// names none; {clientid} is replaced by the device's client id.
	CommandTopic string `yaml:"command_topic"`
	// RPCResponseTopic is the MQTT 5 response topic of a request/response
	// call; {clientid} is replaced by the device's client id.
	RPCResponseTopic string `yaml:"rpc_response_topic"`
	// CommandTimeout is how long a command or RPC call waits when the
	// request gives no timeout; MaxCommandTimeout caps what it may ask.
	CommandTimeout    Duration `yaml:"command_timeout"`
	MaxCommandTimeout Duration `yaml:"max_command_timeout"`
	// Dashboard serves the web dashboard at / on this address, with
	// sign-in for the users of <data_dir>/dashboard_users.json
	// (docs/dashboard.md).
	Dashboard bool `yaml:"dashboard"`
	// SessionIdleTimeout ends a dashboard session unused this long.
	SessionIdleTimeout Duration `yaml:"session_idle_timeout"`
}

// Secret is a string setting that is never printed back: Config.YAML
// writes it as "<redacted>" when set.
type Secret string

// redacted replaces a set Secret in printed configurations.
const redacted = "<redacted>"

// defaultAPI is the api section when nothing is configured.
func defaultAPI() API {
	return API{
		Address:                  ":18083",
		MaxBodyBytes:             1 << 20,
		ReadHeaderTimeout:        Duration(10 * time.Second),
		ReadTimeout:              Duration(30 * time.Second),
		IdleTimeout:              Duration(time.Minute),
		MaxConnections:           4096,
		MaxConnectionsPerAddress: 256,
		CommandTopic:             "devices/{clientid}/command",
		RPCResponseTopic:         "devices/{clientid}/reply",
		CommandTimeout:           Duration(10 * time.Second),
		MaxCommandTimeout:        Duration(5 * time.Minute),
		Dashboard:                true,
		SessionIdleTimeout:       Duration(30 * time.Minute),
	}
}

func (a *API) validate(v *checker) {
	v.address("api.address", a.Address)
	if (a.TLSCertFile == "") != (a.TLSKeyFile == "") {
		v.bad("api.tls_cert_file", "tls_cert_file and tls_key_file go together")
	}
	v.file("api.tls_cert_file", a.TLSCertFile, false)
	v.file("api.tls_key_file", a.TLSKeyFile, false)
	if a.Key != "" && len(a.Key) < 16 {
		v.bad("api.key", "a bootstrap key must be at least 16 characters")
	}
	v.between("api.max_body_bytes", a.MaxBodyBytes, 1024, 256<<20)
	v.duration("api.read_header_timeout", a.ReadHeaderTimeout, 100*time.Millisecond, 0)
	v.duration("api.read_timeout", a.ReadTimeout, a.ReadHeaderTimeout.D(), 0)
	v.duration("api.idle_timeout", a.IdleTimeout, time.Second, 0)
	v.atLeast("api.max_connections", a.MaxConnections, 0)
	v.atLeast("api.max_connections_per_address", a.MaxConnectionsPerAddress, 0)
	for key, t := range map[string]string{"api.command_topic": a.CommandTopic, "api.rpc_response_topic": a.RPCResponseTopic} {
		if t == "" || strings.ContainsAny(t, "+#") || strings.HasPrefix(t, "$") {
			v.bad(key, "%q must be a topic name (no wildcards, not starting with $)", t)
		}
	}
	v.duration("api.command_timeout", a.CommandTimeout, time.Millisecond, 0)
	v.duration("api.max_command_timeout", a.MaxCommandTimeout, a.CommandTimeout.D(), 0)
	v.duration("api.session_idle_timeout", a.SessionIdleTimeout, time.Minute, 7*24*time.Hour)
}
