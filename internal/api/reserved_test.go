package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/api"
)

// TestReservedTopics: '$' topics are refused by every endpoint that
// publishes (403 reserved_topic naming the field), nothing is stored or
// routed, and a namespace a hub feature takes (Options.HubTopic) passes.
func TestReservedTopics(t *testing.T) {
	e := newEnv(t, func(o *api.Options) {
		o.HubTopic = func(topic string) bool { return strings.HasPrefix(topic, "$hub-feature/") }
	})
	dev := connectDevice(t, e.mqtt, "lock-1", false, true)
	dev.subscribe(t, "lock-1/#", 1)
	version := `{"topic":"$SYS/brokers/node/version","payload":"forged","retain":true}`
	tests := []struct {
		name, path, body, field string
	}{
		{"publish $SYS", "/api/v1/publish", version, "topic"},
		{"publish other $", "/api/v1/publish", `{"topic":"$share/g/x","payload":"x"}`, "topic"},
		{"command", "/api/v1/devices/lock-1/commands", `{"topic":"$SYS/x","payload":"x","wait":"none"}`, "topic"},
		{"rpc", "/api/v1/devices/lock-1/rpc", `{"topic":"$SYS/x","payload":"x","timeout":"1s"}`, "topic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.requireError(t, http.MethodPost, tc.path, tc.body, http.StatusForbidden, "reserved_topic")
			require.Equal(t, tc.field, got["field"])
		})
	}
	st, b := e.call(t, http.MethodPost, "/api/v1/publish/batch", `[{"topic":"ok/1","payload":"a"},{"topic":"$SYS/x","payload":"b"}]`)
	require.Equal(t, http.StatusOK, st, "%s", b)
	res := obj(t, b)["results"].([]any)
	require.Nil(t, res[0].(map[string]any)["error"])
	require.Equal(t, "reserved_topic", res[1].(map[string]any)["error"].(map[string]any)["code"])
	require.Equal(t, "[1].topic", res[1].(map[string]any)["error"].(map[string]any)["field"])

	_, found := e.b.Retained("$SYS/brokers/node/version")
	require.False(t, found, "the forged retained message was not stored")
	st, b = e.call(t, http.MethodPost, "/api/v1/publish", `{"topic":"$hub-feature/x","payload":"x"}`)
	require.Equal(t, http.StatusOK, st, "a namespace a hub feature takes: %s", b)
}
