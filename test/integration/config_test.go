package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runHub runs the binary to completion and returns its exit status, stdout
// and stderr.
func runHub(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hubBinary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "iothub %v did not finish", args)
	var ee *exec.ExitError
	if err != nil {
		require.ErrorAs(t, err, &ee)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestConfig_errors: every kind of bad configuration stops `config check`
// and `serve` with exit status 2 and a message naming the key and line.
func TestConfig_errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string // in the message
	}{
		{"unknown key", "mqtt:\n  max_inflght: 3\n", []string{":2:", `unknown key "mqtt.max_inflght"`, `did you mean "max_inflight"`}},
		{"bad type", "mqtt:\n  max_inflight: lots\n", []string{":2:", "mqtt.max_inflight"}},
		{"bad duration", "mqtt:\n  connect_timeout: 10\n", []string{":2:", "mqtt.connect_timeout", "duration"}},
		{"bad address", "listeners:\n  tcp:\n    - address: nowhere\n", []string{":3:", "listeners.tcp.0.address", "host:port"}},
		{"missing certificate", "listeners:\n  tls:\n    - cert_file: /nonexistent/server.crt\n      key_file: /nonexistent/server.key\n",
			[]string{":3:", "listeners.tls.0.cert_file", "/nonexistent/server.crt", ":4:", "listeners.tls.0.key_file"}},
		{"out of range", "mqtt:\n  max_inflight: 0\n", []string{":2:", "mqtt.max_inflight", "out of range"}},
		{"client auth without ca", "listeners:\n  wss:\n    - cert_file: CERT\n      key_file: CERT\n      client_auth: require\n",
			[]string{"listeners.wss.0.ca_file", "required"}},
		{"syntax", "mqtt:\n  max_inflight: [1\n", []string{"config"}},
		{"upstream scheme", "upstream:\n  url: http://central:80\n", []string{":2:", "upstream.url", "mqtt, mqtts, ws or wss"}},
		{"upstream filter", "upstream:\n  url: mqtt://central:1883\n  forward: [\"a/#/b\"]\n", []string{":3:", "upstream.forward.0"}},
		{"upstream queue", "upstream:\n  url: wss://central:8084/mqtt\n  queue:\n    full_policy: drop\n", []string{":4:", "upstream.queue.full_policy"}},
	}
	cert := testCertFile(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, strings.ReplaceAll(tc.yaml, "CERT", cert))
			for _, args := range [][]string{{"config", "check", path}, {"serve", "--config", path}} {
				code, stdout, stderr := runHub(t, nil, args...)
				require.Equal(t, 2, code, "%v: stdout %s stderr %s", args, stdout, stderr)
				require.Contains(t, stderr, path)
				for _, w := range tc.want {
					require.Contains(t, stderr, w, args)
				}
				require.NotContains(t, stderr, "iothub started")
			}
		})
	}
}

// testCertFile returns an existing file to stand for a certificate.
func testCertFile(t *testing.T) string {
	t.Helper()
	p := t.TempDir() + "/cert.pem"
	require.NoError(t, os.WriteFile(p, []byte("placeholder"), 0o600))
	return p
}

// TestConfig_badOverrides: a bad environment variable or flag is refused
// the same way, naming the variable or flag.
func TestConfig_badOverrides(t *testing.T) {
	t.Parallel()
	code, _, stderr := runHub(t, []string{"IOTHUB_MQTT_MAX_INFLIGHT=many"}, "config", "check", writeConfig(t, ""))
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "env IOTHUB_MQTT_MAX_INFLIGHT")
	code, _, stderr = runHub(t, nil, "serve", "--mqtt-addr", "bogus")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "listeners.tcp.0.address")
}

// TestConfig_exampleChecks: the example configuration passes its own check.
func TestConfig_exampleChecks(t *testing.T) {
	t.Parallel()
	code, example, stderr := runHub(t, nil, "config", "example")
	require.Equal(t, 0, code, stderr)
	code, effective, stderr := runHub(t, nil, "config", "check", writeConfig(t, example))
	require.Equal(t, 0, code, stderr)
	require.Contains(t, effective, "max_inflight:")
}

// TestConfig_precedence: a flag beats an environment variable, which beats
// the file; and they take effect in the running hub.
func TestConfig_precedence(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "mqtt:\n  max_inflight: 10\n  max_packet_size: 1000\n")
	code, out, stderr := runHub(t, []string{"IOTHUB_MQTT_MAX_INFLIGHT=20"}, "config", "check", path)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "max_inflight: 20")
	require.Contains(t, out, "max_packet_size: 1000")

	// In the running hub: the environment says listen on an address that
	// is taken, the flag (startHub's --mqtt-addr) wins; the environment's
	// cap of one connection on that listener applies.
	taken := freePort(t)
	h := startHub(t, []string{"IOTHUB_LISTENERS_TCP_0_ADDRESS=" + taken, "IOTHUB_LISTENERS_TCP_0_MAX_CONNECTIONS=1"}, "--config", path)
	s := startSub(t, h, "-t", "prec/#", "-C", "1")
	s.waitLine(t, "received SUBACK")
	out, err := mosquittoPub(t, port(h.mqtt), "-t", "prec/a", "-m", "x")
	require.Error(t, err, "the listener's cap of 1 connection refuses a second: %s", out)
}

// TestConfig_reloadLimit: SIGHUP raises a listener's connection cap and the
// log level without dropping the connected client, and reports what needs
// a restart.
func TestConfig_reloadLimit(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "log:\n  level: info\nlisteners:\n  tcp:\n    - max_connections: 1\n")
	h := startHub(t, nil, "--config", path)
	s := startSub(t, h, "-t", "reload/#", "-q", "1", "-C", "1")
	s.waitLine(t, "received SUBACK")
	out, err := mosquittoPub(t, port(h.mqtt), "-t", "reload/a", "-m", "refused")
	require.Error(t, err, "over the cap before the reload: %s", out)

	require.NoError(t, os.WriteFile(path, []byte("log:\n  level: warn\nmqtt:\n  max_inflight: 7\nlisteners:\n  tcp:\n    - max_connections: 3\n"), 0o600))
	require.NoError(t, h.cmd.Process.Signal(syscall.SIGHUP))
	h.waitLog(t, "need a restart", "mqtt.max_inflight")
	h.waitLog(t, "configuration reloaded", "listeners.tcp.0.max_connections")

	out, err = mosquittoPub(t, port(h.mqtt), "-t", "reload/a", "-q", "1", "-m", "after-reload")
	require.NoError(t, err, out)
	s.waitLine(t, "MSG reload/a after-reload")

	// A broken file changes nothing and the hub keeps running.
	require.NoError(t, os.WriteFile(path, []byte("mqtt:\n  max_inflght: 1\n"), 0o600))
	require.NoError(t, h.cmd.Process.Signal(syscall.SIGHUP))
	h.waitLog(t, "configuration not reloaded", "max_inflght")
	waitListening(t, h.mqtt, h.exited)
}

// TestConfig_checkAsServe: `iothub config check` refuses, in one run and
// naming each, every file problem `serve` refuses — a template naming an
// unknown field, a rule calling an unknown function, an action naming a
// bridge that does not exist, an ACL topic that is not a filter, an ACL
// file with an invalid line, and a value error beside a type error — and
// warns about an IOTHUB_ variable that names no key.
//
// builtErrors holds the mistakes only what serve builds finds: an unknown
// function, an action naming no bridge, a template naming no field.
func TestConfig_checkAsServe(t *testing.T) {
	t.Parallel()
	const builtErrors = `rules:
  list:
    - id: fn
      sql: 'SELECT nosuchfn(payload) FROM "t/#"'
    - id: dangling
      sql: 'SELECT * FROM "t/#"'
      actions: [{type: bridge, bridge: nope}]
bridges:
  - name: b1
    kafka: {bootstrap_servers: ["127.0.0.1:1"]}
    producer: {topic: "x_${clinetid}"}
`
	acl := filepath.Join(t.TempDir(), "acl.txt")
	require.NoError(t, os.WriteFile(acl, []byte("allow publish devices/%c/state\nallow sometimes devices/#\n"), 0o600))
	cfg := writeConfig(t, `mqtt:
  max_inflight: lots
log:
  level: loud
auth:
  acl:
    file: `+acl+`
    rules:
      - {permission: allow, who: {username: backend}, action: publish, topics: ["devices/#/x"]}
`+builtErrors)
	code, _, stderr := runHub(t, []string{"IOTHUB_MQTT_MAX_INFLIHGT=3"}, "config", "check", cfg)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "IOTHUB_MQTT_MAX_INFLIHGT names no configuration key")
	for _, want := range []string{`mqtt.max_inflight: expected an integer`, `log.level: "loud"`,
		"devices/#/x", `unknown function 'nosuchfn'`, `no bridge is named "nope"`, `unknown field "clinetid"`} {
		require.Contains(t, stderr, want, "the file's type and value errors and what serve builds, in one pass")
	}
	// With the file's own errors fixed, what serve builds is still checked.
	cfg = writeConfig(t, `auth:
  acl:
    rules:
      - {permission: allow, who: {username: backend}, action: publish, topics: ["devices/#/x"]}
`+builtErrors)
	code, _, stderr = runHub(t, nil, "config", "check", cfg)
	require.Equal(t, 2, code, stderr)
	for _, want := range []string{"devices/#/x", `unknown function 'nosuchfn'`, `no bridge is named "nope"`, `unknown field "clinetid"`} {
		require.Contains(t, stderr, want)
	}
	code, _, aclErr := runHub(t, nil, "config", "check", writeConfig(t, "auth:\n  acl:\n    file: "+acl+"\n"))
	require.Equal(t, 2, code, aclErr)
	require.Contains(t, aclErr, "sometimes", "an invalid line of the ACL file")
	code, _, serveErr := runHub(t, nil, "serve", "--config", cfg, "--mqtt-addr", "127.0.0.1:0", "--ws-addr", "127.0.0.1:0",
		"--api-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	require.NotEqual(t, 0, code, "serve refuses the same file: %s", serveErr)
}

// TestConfig_bridgeKeys: `iothub config example` shows every bridge type's
// keys (and `serve --help` their variables); a file using the keys that
// moved to the common section still checks, with a warning naming the key
// to use, and the effective configuration shows them where they are now.
func TestConfig_bridgeKeys(t *testing.T) {
	code, example, stderr := runHub(t, nil, "config", "example")
	require.Equal(t, 0, code, stderr)
	for _, typ := range []string{"kafka_producer", "kafka_consumer (and kafka, above)", "mqtt", "postgres", "redis", "webhook"} {
		require.Contains(t, example, "#    # type "+typ+":\n", "the bridge entry of the example shows type %s", typ)
	}
	for _, key := range []string{"#      url: \"\" # URL template", "#      master_name:", "#      bootstrap_servers:", "#    batch_size: 500", "#      insecure_skip_verify:"} {
		require.Contains(t, example, key)
	}
	_, _, help := runHub(t, nil, "serve", "--help")
	for _, v := range []string{"IOTHUB_BRIDGES_0_WEBHOOK_URL", "IOTHUB_BRIDGES_0_REDIS_ADDRESSES", "IOTHUB_BRIDGES_0_TLS_CA_FILE", "IOTHUB_BRIDGES_0_BATCH_SIZE"} {
		require.Contains(t, help, v)
	}

	path := writeConfig(t, `bridges:
  - name: hook
    type: webhook
    webhook:
      url: http://127.0.0.1:1/locks/${clientid}
      tls: {server_name: receiver.example}
    producer: {batch_size: 40, send_timeout: 3s}
`)
	code, out, stderr := runHub(t, nil, "config", "check", path)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "warning: config "+path+":7: bridges.0.producer.batch_size: deprecated: use bridges.0.batch_size")
	require.Contains(t, stderr, "bridges.0.webhook.tls: deprecated: use bridges.0.tls")
	require.Contains(t, out, "    batch_size: 40\n    send_timeout: 3s\n")
	require.Contains(t, out, "      server_name: receiver.example\n")
	require.NotContains(t, out, "producer:")
}
