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
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/iothub-dev/iothub/examples/doorlock/lock"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
	group := flag.String("group", "doorlock-monitoring", "consumer group")
	api := flag.String("api", "http://127.0.0.1:18083", "the hub's HTTP API")
	key := flag.String("key", os.Getenv("IOTHUB_API_KEY"), "API key (env IOTHUB_API_KEY)")
	low := flag.Float64("battery-low", 20, "battery percentage that raises an alarm")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	raised := map[string]bool{} // lock id + alarm → raised and not cleared
	err := lock.Consume(ctx, *brokers, *group, "message_state", log, func(value []byte) {
		rec, payload, err := lock.ParseRecord(value)
		var st lock.State
		if err == nil {
			err = json.Unmarshal(payload, &st)
		}
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
	if err != nil {
		fmt.Fprintln(os.Stderr, "monitoring:", err)
		os.Exit(1)
	}
}

// publish sends payload to topic through POST /api/v1/publish.
func publish(ctx context.Context, api, key, topic string, payload any) error {
	body, _ := json.Marshal(map[string]any{"topic": topic, "payload": payload, "qos": 1, "retain": true})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/api/v1/publish", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /api/v1/publish: HTTP %d", resp.StatusCode)
	}
	return nil
}
