package testutil

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// WaitRoute publishes probes (QoS 0, "probe") on topic through pub until
// one comes out of ch, at most 30 seconds: on a cluster, a subscription
// reaches the other nodes asynchronously. It then drains ch of the probes
// still on their way.
func WaitRoute(t testing.TB, pub mqtt.Client, topic string, ch <-chan mqtt.Message) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		pub.Publish(topic, 0, false, "probe").WaitTimeout(5 * time.Second)
		select {
		case <-ch:
			for {
				select {
				case <-ch:
				case <-time.After(300 * time.Millisecond):
					return
				}
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("no route to %s within 30s", topic)
}
