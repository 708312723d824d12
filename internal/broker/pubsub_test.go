package broker_test

import (
	"fmt"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

func TestPubSub_v5_allQoS(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	sub := connectV5(t, addr, "sub", nil)
	pub := connectV5(t, addr, "pub", nil)
	for _, subQoS := range []byte{0, 1, 2} {
		for _, pubQoS := range []byte{0, 1, 2} {
			t.Run(fmt.Sprintf("sub%d_pub%d", subQoS, pubQoS), func(t *testing.T) {
				topic := fmt.Sprintf("t/%d/%d", subQoS, pubQoS)
				sub.subscribe(t, paho.SubscribeOptions{Topic: topic, QoS: subQoS})
				payload := []byte(fmt.Sprintf("hello %d %d", subQoS, pubQoS))
				pub.publish(t, &paho.Publish{Topic: topic, QoS: pubQoS, Payload: payload})
				got := sub.next(t)
				require.Equal(t, topic, got.Topic)
				require.Equal(t, payload, got.Payload)
				require.Equal(t, min(subQoS, pubQoS), got.QoS, "QoS is downgraded to the subscription's maximum")
			})
		}
	}
}

func TestPubSub_v311_allQoS(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	sub := connectV3(t, addr, "sub3", nil)
	pub := connectV3(t, addr, "pub3", nil)
	for _, qos := range []byte{0, 1, 2} {
		topic := fmt.Sprintf("v3/%d", qos)
		sub.sub(t, topic, 2)
		pub.pub(t, topic, qos, false, "m")
		got := sub.next(t)
		require.Equal(t, topic, got.Topic())
		require.Equal(t, qos, got.Qos())
		require.Equal(t, "m", string(got.Payload()))
	}
}
