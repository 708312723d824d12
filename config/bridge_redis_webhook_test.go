package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge/redis"
	"github.com/iothub-dev/iothub/bridge/webhook"
	"github.com/iothub-dev/iothub/config"
)

func TestBridges_redisAndWebhook(t *testing.T) {
	c, err := config.Parse([]byte(`
bridges:
  - name: lock_latest
    type: redis
    redis:
      addresses: ["127.0.0.1:6379"]
      key: device:${clientid}
      ttl: 24h
  - name: lock_hook
    type: webhook
    webhook:
      url: https://svc.example/locks/${clientid}
      secret: s3cret
`), "t.yaml")
	require.NoError(t, err)
	r := c.Bridges[0].Settings.(*redis.Config).Redis
	require.Equal(t, "standalone", r.Deployment)
	require.Equal(t, redis.HSet, r.Command, "hset by default")
	require.Equal(t, 24*time.Hour, r.TTL.D())
	w := c.Bridges[1].Settings.(*webhook.Config).Webhook
	require.Equal(t, "POST", w.Method)
	require.Equal(t, "X-Iothub-Signature", w.SignatureHeader)
	require.Equal(t, 8, w.PoolSize)

	redis := "bridges:\n  - name: r\n    type: redis\n    redis:\n"
	hook := "bridges:\n  - name: w\n    type: webhook\n    webhook:\n"
	tests := []struct{ name, yaml, want string }{
		{"no address", redis + "      key: k\n", "bridges.0.redis.addresses: required"},
		{"bad address", redis + "      addresses: [nope]\n      key: k\n", "bridges.0.redis.addresses.0"},
		{"no key", redis + "      addresses: [\"h:1\"]\n", "bridges.0.redis.key: required with command hset"},
		{"no channel", redis + "      addresses: [\"h:1\"]\n      command: publish\n", "bridges.0.redis.channel: required"},
		{"no stream", redis + "      addresses: [\"h:1\"]\n      command: xadd\n", "bridges.0.redis.stream: required"},
		{"bad command", redis + "      addresses: [\"h:1\"]\n      command: lpush\n", "bridges.0.redis.command"},
		{"sentinel without master", redis + "      addresses: [\"h:1\"]\n      key: k\n      deployment: sentinel\n", "bridges.0.redis.master_name"},
		{"two standalone", redis + "      addresses: [\"h:1\", \"h:2\"]\n      key: k\n", "one address"},
		{"fields with set", redis + "      addresses: [\"h:1\"]\n      command: set\n      key: k\n      fields: [{key: a, value: b}]\n", "bridges.0.redis.fields: only"},
		{"negative maxlen", redis + "      addresses: [\"h:1\"]\n      command: xadd\n      stream: s\n      maxlen: -1\n", "bridges.0.redis.maxlen"},
		{"no url", hook + "      method: POST\n", "bridges.0.webhook.url: required"},
		{"not http", hook + "      url: ftp://x/\n", "bridges.0.webhook.url"},
		{"bad method", hook + "      url: http://x/\n      method: GET\n", "bridges.0.webhook.method"},
		{"bad header", hook + "      url: http://x/\n      headers: [{key: 'a b', value: c}]\n", "bridges.0.webhook.headers.0.key"},
		{"pool", hook + "      url: http://x/\n      pool_size: 0\n", "bridges.0.webhook.pool_size"},
		{"unknown key", hook + "      url: http://x/\n      secrets: x\n", "unknown key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml), "t.yaml")
			require.ErrorContains(t, err, tc.want)
		})
	}
}
