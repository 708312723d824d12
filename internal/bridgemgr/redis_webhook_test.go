package bridgemgr

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/redis"
	"github.com/iothub-dev/iothub/bridge/webhook"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/rule"
)

// typed returns a bridge of type typ named name, its settings changed by f.
func typed[T bridge.Config](t *testing.T, name, typ string, f func(T)) *config.Bridge {
	t.Helper()
	d := config.NewBridge(name, typ)
	require.NotNil(t, d.Settings, typ)
	f(d.Settings.(T))
	return &d
}

func redisDef(t *testing.T, f func(*redis.Settings)) *config.Bridge {
	return typed(t, "r", redis.Type, func(c *redis.Config) {
		c.Redis.Addresses, c.Redis.Key = []string{"127.0.0.1:6379"}, "device:${clientid}"
		if f != nil {
			f(&c.Redis)
		}
	})
}

func webhookDef(t *testing.T, f func(*webhook.Settings)) *config.Bridge {
	return typed(t, "w", webhook.Type, func(c *webhook.Config) {
		c.Webhook.URL = "http://127.0.0.1:1/locks/${clientid}"
		if f != nil {
			f(&c.Webhook)
		}
	})
}

// TestCheck_redisWebhook: templates are checked with their keys; the
// redis and webhook record checks refuse what the sink cannot send.
func TestCheck_redisWebhook(t *testing.T) {
	require.NoError(t, check(redisDef(t, nil)))
	require.NoError(t, check(webhookDef(t, nil)))
	tests := []struct {
		name string
		def  *config.Bridge
		want string
	}{
		{"redis key", redisDef(t, func(r *redis.Settings) { r.Key = "device:${clinetid}" }), `redis.key: template "device:${clinetid}", column 10: unknown field "clinetid"`},
		{"redis field", redisDef(t, func(r *redis.Settings) {
			r.Fields = []bridge.KeyValue{{Key: "b", Value: "${paylod.battery}"}}
		}), "redis.fields.0.value"},
		{"redis channel", redisDef(t, func(r *redis.Settings) { r.Command, r.Channel = redis.Publish, "${x}" }), "redis.channel"},
		{"webhook url", webhookDef(t, func(w *webhook.Settings) { w.URL = "http://h/${nope}" }), "webhook.url"},
		{"webhook body", webhookDef(t, func(w *webhook.Settings) { w.Body = "${nope}" }), "webhook.body"},
		{"webhook header", webhookDef(t, func(w *webhook.Settings) {
			w.Headers = []bridge.KeyValue{{Key: "X-A", Value: "${nope}"}}
		}), "webhook.headers.0.value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, check(tc.def), tc.want)
		})
	}

	parts, mp, err := build(redisDef(t, nil), "", nil)
	require.NoError(t, err)
	closeParts(parts)
	out := &rule.Output{}
	_, err = mp.record(out)
	require.Error(t, err, "an empty output renders {}: no hash fields, refused at enqueue")
}
