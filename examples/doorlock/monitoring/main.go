// Command monitoring raises alarms: a lock whose battery falls below
// --battery-low, or whose bolt is not where its last action put it. It
// reads the locks' states from Kafka topic message_state in its own
// consumer group, and publishes each alarm back to the hub, through the
// HTTP API, on alarms/{lock} (QoS 1, retained: an owner's app that
// subscribes later still sees it), once per condition until it clears.
//
//	export IOTHUB_API_KEY=…
//	monitoring --brokers 127.0.0.1:9092 --api http://127.0.0.1:18083
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/iothub-dev/iothub/examples/doorlock/lock"
)

func main() {
	brokers, group := lock.ConsumerFlags("monitoring")
	api := flag.String("api", "http://127.0.0.1:18083", "the hub's HTTP API")
	key := flag.String("key", os.Getenv("IOTHUB_API_KEY"), "API key (env IOTHUB_API_KEY)")
	low := flag.Float64("battery-low", 20, "battery percentage that raises an alarm")
	flag.Parse()
	raised := map[string]bool{} // lock id + alarm → raised and not cleared
	lock.Serve("monitoring", *brokers, *group, "message_state", func(ctx context.Context, log *slog.Logger, value []byte) {
		rec, st, err := lock.Decode[lock.State](value)
		if err != nil {
			log.Warn("skipped a record", "error", err.Error())
			return
		}
		for alarm, on := range map[string]bool{"low_battery": st.Battery < *low, "abnormal_state": st.Abnormal()} {
			k := rec.ClientID + "/" + alarm
			if on == raised[k] {
				continue
			}
			raised[k] = on
			if !on {
				log.Info("cleared", "lock", rec.ClientID, "alarm", alarm)
				continue
			}
			a := map[string]any{"lock": rec.ClientID, "alarm": alarm, "battery": st.Battery,
				"action": st.Action, "lock_state": st.LockState, "ts": rec.TS}
			if err := publish(ctx, *api, *key, "alarms/"+rec.ClientID, a); err != nil {
				log.Error("alarm not published", "lock", rec.ClientID, "alarm", alarm, "error", err.Error())
				continue
			}
			log.Info("alarm", "lock", rec.ClientID, "alarm", alarm, "battery", st.Battery, "topic", "alarms/"+rec.ClientID)
		}
	})
}

// publish sends payload to topic through POST /api/v1/publish.
func publish(ctx context.Context, api, key, topic string, payload any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	status, _, err := lock.Post(ctx, api+"/api/v1/publish", key, map[string]any{"topic": topic, "payload": payload, "qos": 1, "retain": true})
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("POST /api/v1/publish: HTTP %d", status)
	}
	return err
}
