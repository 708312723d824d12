package config_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/kafka"
	"github.com/iothub-dev/iothub/bridge/redis"
	"github.com/iothub-dev/iothub/bridge/webhook"
	"github.com/iothub-dev/iothub/config"
)

// TestBridge_deprecatedKeys: the keys that moved to the common section
// are still read from a file and from the environment, each with a
// warning naming where it came from and the key to use; giving both is
// an error.
func TestBridge_deprecatedKeys(t *testing.T) {
	c, err := config.Parse([]byte(`bridges:
  - name: hook
    type: webhook
    webhook:
      url: http://127.0.0.1:1/x
      tls: {server_name: receiver.example}
    producer: {batch_size: 40, send_timeout: 3s}
  - name: k
    kafka:
      bootstrap_servers: ["127.0.0.1:9092"]
      tls: {enabled: true}
    producer: {topic: t, batch_size: 7}
`), "t.yaml")
	require.NoError(t, err)
	hook, k := c.Bridges[0], c.Bridges[1]
	require.Equal(t, 40, hook.BatchSize)
	require.Equal(t, 3*time.Second, hook.SendTimeout.D())
	require.Equal(t, "receiver.example", hook.TLS.ServerName)
	require.True(t, k.TLS.Enabled)
	require.Equal(t, 7, k.BatchSize)
	require.Equal(t, "t", k.Settings.(*kafka.ProducerConfig).Producer.Topic, "the rest of producer stays")
	var got []string
	for _, w := range c.Warnings {
		require.ErrorIs(t, w, config.ErrDeprecated)
		got = append(got, w.Error())
	}
	require.Equal(t, []string{
		"config t.yaml:7: bridges.0.producer.batch_size: deprecated: use bridges.0.batch_size",
		"config t.yaml:7: bridges.0.producer.send_timeout: deprecated: use bridges.0.send_timeout",
		"config t.yaml:6: bridges.0.webhook.tls: deprecated: use bridges.0.tls",
		"config t.yaml:12: bridges.1.producer.batch_size: deprecated: use bridges.1.batch_size",
		"config t.yaml:11: bridges.1.kafka.tls: deprecated: use bridges.1.tls",
	}, got)

	_, err = config.Parse([]byte("bridges:\n  - name: k\n    kafka: {bootstrap_servers: [\"h:1\"]}\n    producer: {topic: t, batch_size: 7}\n    batch_size: 8\n"), "t.yaml")
	require.ErrorContains(t, err, "bridges.0.producer.batch_size: deprecated, and bridges.0.batch_size is set too")

	path := writeFile(t, "bridges:\n  - name: r\n    type: redis\n    redis: {addresses: [\"127.0.0.1:6379\"], key: k}\n")
	env := []string{"IOTHUB_BRIDGES_0_PRODUCER_SEND_TIMEOUT=4s", "IOTHUB_BRIDGES_0_REDIS_TLS_ENABLED=true"}
	c, err = config.Load(path, env)
	require.NoError(t, err)
	require.Equal(t, 4*time.Second, c.Bridges[0].SendTimeout.D())
	require.True(t, c.Bridges[0].TLS.Enabled)
	require.Len(t, c.Warnings, 2)
	require.Contains(t, c.Warnings[0].Error(), "config env IOTHUB_BRIDGES_0_PRODUCER_SEND_TIMEOUT: bridges.0.send_timeout: set by a deprecated variable: use IOTHUB_BRIDGES_0_SEND_TIMEOUT")
	require.Empty(t, config.UnknownEnv(env), "a deprecated variable is known (and warned about by Load)")
}

// TestBridge_typeKeys: an entry takes its type's keys and no other
// type's; an unknown type is reported once, on the type key.
func TestBridge_typeKeys(t *testing.T) {
	_, err := config.Parse([]byte("bridges:\n  - name: w\n    type: webhook\n    webhook: {url: \"http://h/\"}\n    redis: {key: k}\n"), "t.yaml")
	require.ErrorIs(t, err, config.ErrUnknownKey)
	require.ErrorContains(t, err, `config t.yaml:5: unknown key "bridges.0.redis" (a key of redis bridges, not of "webhook")`)

	_, err = config.Parse([]byte("bridges:\n  - name: w\n    type: rabbit\n    rabbit: {queue: q}\n"), "t.yaml")
	require.EqualError(t, err, `config t.yaml:3: bridges.0.type: "rabbit" is not a bridge type (known: kafka_consumer, kafka_producer, mqtt, postgres, redis, webhook)`)

	// The environment may change a bridge's type; the type's keys follow.
	path := writeFile(t, "bridges:\n  - name: w\n")
	c, err := config.Load(path, []string{"IOTHUB_BRIDGES_0_TYPE=webhook", "IOTHUB_BRIDGES_0_WEBHOOK_URL=http://h/x"})
	require.NoError(t, err)
	require.Equal(t, "http://h/x", c.Bridges[0].Settings.(*webhook.Config).Webhook.URL)
	_, err = config.Load(path, []string{"IOTHUB_BRIDGES_0_REDIS_KEY=k"})
	require.ErrorContains(t, err, `unknown key "bridges.0.redis.key" (a key of redis bridges, not of "kafka_producer")`)

	a, err := config.Parse([]byte("bridges:\n  - {name: w, type: webhook, webhook: {url: \"http://h/\"}}\n"), "a")
	require.NoError(t, err)
	b, err := config.Parse([]byte("bridges:\n  - {name: w, type: redis, redis: {addresses: [\"h:1\"], key: k}}\n"), "b")
	require.NoError(t, err)
	require.Equal(t, []string{"bridges.0.type", "bridges.0.webhook", "bridges.0.redis"}, config.Diff(a, b))
}

// TestBridge_JSON: an entry goes to JSON and back unchanged (bridges.json,
// the API); the API's form redacts secrets; unknown and foreign keys are
// refused with their paths.
func TestBridge_JSON(t *testing.T) {
	c, err := config.Parse([]byte(`bridges:
  - name: r
    type: redis
    redis: {addresses: ["127.0.0.1:6379"], key: "device:${clientid}", password: pw, fields: [{key: b, value: "${payload.b}"}], ttl: 1h}
    tls: {enabled: true}
    dead_letter: {mqtt_topic: dead/r}
`), "t.yaml")
	require.NoError(t, err)
	data, err := json.Marshal(c.Bridges[0])
	require.NoError(t, err)
	require.Contains(t, string(data), `"redis":{"deployment":"standalone","addresses":["127.0.0.1:6379"]`)
	require.NotContains(t, string(data), `"webhook"`)
	back, warns, err := config.DecodeBridge(data)
	require.NoError(t, err)
	require.Empty(t, warns)
	require.Equal(t, c.Bridges[0], back)
	var viaStd config.Bridge
	require.NoError(t, json.Unmarshal(data, &viaStd))
	require.Equal(t, c.Bridges[0], viaStd)

	red, err := c.Bridges[0].RedactedJSON()
	require.NoError(t, err)
	require.Contains(t, string(red), `"password":"<redacted>"`)
	require.Equal(t, config.Secret("pw"), c.Bridges[0].Settings.(*redis.Config).Redis.Password, "the definition keeps its secret")

	tests := []struct{ name, body, want string }{
		{"unknown key", `{"name":"w","type":"webhook","webhook":{"url":"http://h/","secrets":"x"}}`, `unknown key "webhook.secrets" (did you mean "secret"?)`},
		{"foreign section", `{"name":"w","type":"webhook","redis":{}}`, `unknown key "redis" (a key of redis bridges, not of "webhook")`},
		{"wrong type", `{"name":"w","batch_size":"many"}`, `batch_size: expected an integer`},
		{"not an object", `[1]`, `a bridge is a JSON object`},
		{"not JSON", `{"name":`, `not JSON`},
		{"trailing data", `{"name":"w"} {}`, `data after the JSON value`},
		{"too deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), `nested deeper than`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := config.DecodeBridge([]byte(tc.body))
			require.ErrorContains(t, err, tc.want)
		})
	}

	_, warns, err = config.DecodeBridge([]byte(`{"name":"w","type":"webhook","webhook":{"url":"http://h/"},"producer":{"batch_size":9}}`))
	require.NoError(t, err)
	require.Len(t, warns, 1)
	require.Equal(t, "batch_size", strings.TrimPrefix(warns[0].Msg, "deprecated: use "))
}

// TestBridge_legacyJSON: an entry of a version 1 bridges.json (every
// type's sections, batch size and TLS in the old places) reads as the
// same bridge.
func TestBridge_legacyJSON(t *testing.T) {
	data, err := os.ReadFile("../internal/bridgemgr/testdata/bridges_v1.json")
	require.NoError(t, err)
	var doc struct{ Bridges []json.RawMessage }
	require.NoError(t, json.Unmarshal(data, &doc))
	require.Len(t, doc.Bridges, 3)
	hook, err := config.DecodeLegacyBridge(doc.Bridges[0])
	require.NoError(t, err)
	require.Equal(t, "lock_hook", hook.Name)
	require.Equal(t, 40, hook.BatchSize)
	require.Equal(t, 3*time.Second, hook.SendTimeout.D())
	require.True(t, hook.TLS.InsecureSkipVerify, "webhook.tls moved")
	w := hook.Settings.(*webhook.Config).Webhook
	require.Equal(t, "http://127.0.0.1:18090/locks/${clientid}", w.URL)
	require.Equal(t, config.Secret("s3cret"), w.Secret)
	require.NoError(t, config.ValidateBridge(&hook))

	k, err := config.DecodeLegacyBridge(doc.Bridges[1])
	require.NoError(t, err)
	require.True(t, k.TLS.Enabled, "kafka.tls moved")
	require.False(t, k.Enabled)
	require.Equal(t, []bridge.KeyValue{{Key: "source", Value: "${node}"}}, k.Settings.(*kafka.ProducerConfig).Producer.Headers)

	r, err := config.DecodeLegacyBridge(doc.Bridges[2])
	require.NoError(t, err)
	require.Equal(t, config.Secret("pw"), r.Settings.(*redis.Config).Redis.Password)
	require.False(t, r.TLS.Enabled, "the kafka section's tls of a redis bridge is not its own")

	_, _, err = config.DecodeBridge(doc.Bridges[0])
	require.Error(t, err, "the current format refuses the other types' sections")
}

// TestBridge_typeExamples: each registered type's Example documents every
// key of the type and decodes as an entry of that type.
func TestBridge_typeExamples(t *testing.T) {
	for _, ti := range bridge.Types() {
		t.Run(ti.Name, func(t *testing.T) {
			var doc map[string]any
			require.NoError(t, yaml.Unmarshal([]byte(ti.Example), &doc))
			entry := "name: x\ntype: " + ti.Name + "\n" + ti.Example
			var node yaml.Node
			require.NoError(t, yaml.Unmarshal([]byte(entry), &node))
			js, err := json.Marshal(yamlToJSON(t, node.Content[0]))
			require.NoError(t, err)
			_, _, err = config.DecodeBridge(js)
			require.NoError(t, err)
		})
	}
	var vars []string
	for _, v := range config.EnvVars() {
		vars = append(vars, v.Name+"="+v.Default+" "+v.Doc)
	}
	all := strings.Join(vars, "\n")
	require.Contains(t, all, "IOTHUB_BRIDGES_0_WEBHOOK_POOL_SIZE=8 keep-alive connections per host")
	require.Contains(t, all, "IOTHUB_BRIDGES_0_KAFKA_CLIENT_ID=iothub Kafka client id")
	require.Contains(t, all, "IOTHUB_BRIDGES_0_TLS_ENABLED=false TLS to the target")
	require.NotContains(t, all, "IOTHUB_BRIDGES_0_PRODUCER_BATCH_SIZE")
}

// yamlToJSON converts a YAML node of the examples to a JSON value.
func yamlToJSON(t *testing.T, n *yaml.Node) any {
	t.Helper()
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = yamlToJSON(t, n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, yamlToJSON(t, c))
		}
		return l
	}
	var v any
	require.NoError(t, n.Decode(&v))
	if d, ok := v.(int); ok {
		return d
	}
	return v
}

// TestBridge_validate: a type's own problems carry the entry's key path.
func TestBridge_validate(t *testing.T) {
	_, err := config.Parse([]byte("bridges:\n  - name: k\n    kafka: {bootstrap_servers: [nope]}\n    producer: {acks: some}\n    batch_size: 0\n"), "t.yaml")
	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() { //nolint:errorlint // the joined list
		var ke *config.KeyError
		require.True(t, errors.As(e, &ke))
		keys = append(keys, ke.Key)
	}
	require.Equal(t, []string{"bridges.0.kafka.bootstrap_servers.0", "bridges.0.producer.topic", "bridges.0.producer.acks", "bridges.0.batch_size"}, keys)
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := t.TempDir() + "/iothub.yaml"
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}
