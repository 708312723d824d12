package broker_test

import (
	"context"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

func TestDollar_leadingWildcardDoesNotMatch(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	wild := connectV5(t, addr, "wild", nil)
	wild.subscribe(t, paho.SubscribeOptions{Topic: "#", QoS: 1}, paho.SubscribeOptions{Topic: "+/x", QoS: 1})
	exact := connectV5(t, addr, "exact", nil)
	exact.subscribe(t, paho.SubscribeOptions{Topic: "$app/#", QoS: 1})
	plus := connectV5(t, addr, "plus", nil)
	plus.subscribe(t, paho.SubscribeOptions{Topic: "$app/+", QoS: 1})

	_, err := s.Publish(context.Background(), &msg.Message{Topic: "$app/x", QoS: 1, Payload: []byte("d")})
	require.NoError(t, err)
	require.Equal(t, "$app/x", exact.next(t).Topic, "a filter starting with $app matches")
	require.Equal(t, "$app/x", plus.next(t).Topic)
	marker(t, exact, wild, "m") // "#" and "+/x" did not match
}

func TestDollar_clientsCannotPublish(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	sub := connectV5(t, addr, "sub", nil)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "$SYS/#", QoS: 1}, paho.SubscribeOptions{Topic: "$app/#", QoS: 1})
	c := connectV5(t, addr, "c", nil)
	for _, topic := range []string{"$SYS/brokers/fake/version", "$app/x"} {
		r, err := c.Publish(t.Context(), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("forged")})
		require.Error(t, err)
		require.Equal(t, byte(packet.NotAuthorized), r.ReasonCode, topic)
	}
	c.publish(t, &paho.Publish{Topic: "$app/q0", QoS: 0, Payload: []byte("forged")})
	v3 := connectV3(t, addr, "v3", nil)
	v3.pub(t, "$app/v3", 1, false, "forged") // 3.1.1 has no reason code: acknowledged, dropped

	_, err := s.Publish(context.Background(), &msg.Message{Topic: "$app/m", QoS: 1, Payload: []byte("marker")})
	require.NoError(t, err)
	got := sub.next(t)
	require.Equal(t, "$app/m", got.Topic, "no client publish reached $ topics; got %q", got.Topic)
	require.Equal(t, 0, s.Stats().Retained)
}
