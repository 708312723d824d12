package broker_test

import (
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// aclBroker starts a broker with no authentication and the ACL rules over
// default allow.
func aclBroker(t *testing.T, rules string) (*broker.Server, string) {
	t.Helper()
	return testutil.StartBroker(t, func(o *broker.Options) { o.Authorizer = aclChain(t, rules) })
}

func aclChain(t *testing.T, rules string) *auth.AuthzChain {
	t.Helper()
	parsed, err := auth.ParseRules(rules)
	require.NoError(t, err)
	acl, err := auth.NewACL(parsed)
	require.NoError(t, err)
	return &auth.AuthzChain{Authorizers: []auth.Authorizer{acl}, Default: auth.Allow}
}

// TestReadACL_wildcardWithDenyRule is issue 14's interop case: with the
// default allow and one rule denying subscribe on test/nosubscribe, "#"
// and "+/+" are accepted and deliver everything but test/nosubscribe
// (retained messages too, shared subscriptions too); only the filter that
// can match nothing readable is refused. A reload changes what is read on
// the same subscriptions.
func TestReadACL_wildcardWithDenyRule(t *testing.T) {
	s, addr := aclBroker(t, "deny subscribe test/nosubscribe")
	pub := connectV5(t, addr, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "test/nosubscribe", QoS: 1, Retain: true, Payload: []byte("secret retained")})
	pub.publish(t, &paho.Publish{Topic: "test/ok", QoS: 1, Retain: true, Payload: []byte("ok retained")})

	sub := connectV5(t, addr, "monitor", nil)
	sa := sub.subscribe(t, paho.SubscribeOptions{Topic: "#", QoS: 1}, paho.SubscribeOptions{Topic: "+/+", QoS: 1},
		paho.SubscribeOptions{Topic: "$share/g/test/#", QoS: 1})
	require.Equal(t, []byte{1, 1, 1}, sa.Reasons)
	var retained []string
	for range 2 { // test/ok's retained message once per filter (# and +/+)
		retained = append(retained, string(sub.next(t).Payload))
	}
	require.Equal(t, []string{"ok retained", "ok retained"}, retained)

	ctx := t.Context()
	only, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "test/nosubscribe", QoS: 1}}})
	require.Error(t, err)
	require.Equal(t, []byte{byte(packet.NotAuthorized)}, only.Reasons)

	pub.publish(t, &paho.Publish{Topic: "test/nosubscribe", QoS: 1, Payload: []byte("secret")})
	pub.publish(t, &paho.Publish{Topic: "test/ok", QoS: 1, Payload: []byte("fine")})
	require.Equal(t, "fine", string(sub.next(t).Payload), "# and +/+ merge into one delivery")
	require.Equal(t, "fine", string(sub.next(t).Payload), "the shared subscription's")
	st := s.Stats()
	require.Equal(t, uint64(4), st.AuthzDeniedRead,
		"the retained secret through # and +/+, the secret once through both (merged) and once through the group")
	require.Equal(t, uint64(1), st.AuthzDeniedSubscribe)

	// A reload: now test/ok is denied and test/nosubscribe allowed, on the
	// same subscriptions.
	s.SetAuth(nil, aclChain(t, "deny subscribe test/ok"))
	pub.publish(t, &paho.Publish{Topic: "test/ok", QoS: 1, Payload: []byte("now secret")})
	pub.publish(t, &paho.Publish{Topic: "test/nosubscribe", QoS: 0, Payload: []byte("now fine")})
	require.Equal(t, "now fine", string(sub.next(t).Payload))
}
