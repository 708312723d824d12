package integration

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadACL_wildcardSubscribersWithDenyRule is issue 14's interop case
// against the built binary with Mosquitto's clients: the ACL's default is
// allow and one rule denies subscribing to test/nosubscribe. Subscribers to
// "#" and "+/+" (MQTT 5 and 3.1.1) are accepted and get everything but
// test/nosubscribe; a subscription to test/nosubscribe itself is refused.
func TestReadACL_wildcardSubscribersWithDenyRule(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, `
auth:
  acl:
    default: allow
    rules:
      - {permission: deny, who: {all: true}, action: subscribe, topics: [test/nosubscribe]}
`)
	h := startHub(t, nil, "--config", cfg)
	all := startSub(t, h, "-V", "mqttv5", "-t", "#", "-q", "1")
	all.waitLine(t, "SUBACK")
	levels := startSub(t, h, "-V", "mqttv311", "-t", "+/+", "-q", "1")
	levels.waitLine(t, "SUBACK")

	out, _ := mosquitto(t, h, "mosquitto_sub", "-V", "mqttv5", "-t", "test/nosubscribe", "-W", "3", "-d")
	require.Contains(t, out, "Subscribed (mid: 1): 135", "SUBACK 0x87")
	require.Contains(t, out, "All subscription requests were denied")

	pub(t, h, "-q", "1", "-t", "test/nosubscribe", "-m", "secret")
	pub(t, h, "-q", "1", "-t", "test/ok", "-m", "fine")
	require.Equal(t, "MSG test/ok fine", all.waitLine(t, "MSG"), "the secret, published first, was not delivered")
	require.Equal(t, "MSG test/ok fine", levels.waitLine(t, "MSG"))
	require.Equal(t, 2.0, metric(t, h, `iothub_authz_denied_total{action="read"}`))
	require.Equal(t, 1.0, metric(t, h, `iothub_authz_denied_total{action="subscribe"}`))
}
