package bridgemgr

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/rule"
)

func redisDef(f func(*config.RedisBridge)) *config.Bridge {
	d := config.DefaultBridge()
	d.Name, d.Type = "r", config.BridgeRedis
	d.Redis.Addresses, d.Redis.Key = []string{"127.0.0.1:6379"}, "device:${clientid}"
	if f != nil {
		f(&d.Redis)
	}
	return &d
}

func webhookDef(f func(*config.WebhookBridge)) *config.Bridge {
	d := config.DefaultBridge()
	d.Name, d.Type = "w", config.BridgeWebhook
	d.Webhook.URL = "http://127.0.0.1:1/locks/${clientid}"
	if f != nil {
		f(&d.Webhook)
	}
	return &d
}

// TestCheck_redisWebhook: templates are checked with their keys; the
// redis and webhook record checks refuse what the sink cannot send.
func TestCheck_redisWebhook(t *testing.T) {
	require.NoError(t, check(redisDef(nil)))
	require.NoError(t, check(webhookDef(nil)))
	tests := []struct {
		name string
		def  *config.Bridge
		want string
	}{
		{"redis key", redisDef(func(r *config.RedisBridge) { r.Key = "device:${clinetid}" }), `redis.key: template "device:${clinetid}", column 10: unknown field "clinetid"`},
		{"redis field", redisDef(func(r *config.RedisBridge) {
			r.Fields = []config.KafkaHeader{{Key: "b", Value: "${paylod.battery}"}}
		}), "redis.fields.0.value"},
		{"redis channel", redisDef(func(r *config.RedisBridge) { r.Command, r.Channel = config.RedisPublish, "${x}" }), "redis.channel"},
		{"webhook url", webhookDef(func(w *config.WebhookBridge) { w.URL = "http://h/${nope}" }), "webhook.url"},
		{"webhook body", webhookDef(func(w *config.WebhookBridge) { w.Body = "${nope}" }), "webhook.body"},
		{"webhook header", webhookDef(func(w *config.WebhookBridge) {
			w.Headers = []config.KafkaHeader{{Key: "X-A", Value: "${nope}"}}
		}), "webhook.headers.0.value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, check(tc.def), tc.want)
		})
	}

	tpl, _, err := redisSink(redisDef(nil), nil)
	require.NoError(t, err)
	mp, err := newSinkMapping(tpl)
	require.NoError(t, err)
	out := &rule.Output{}
	_, err = mp.record(out)
	require.Error(t, err, "an empty output renders {}: no hash fields, refused at enqueue")
}
