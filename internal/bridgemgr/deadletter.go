package bridgemgr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/msg"
)

// deadLetter builds the dead letter of def (nil: records refused for good
// are dropped and counted): a Kafka topic (a bridge.DeadLetterProducer sink), a topic of
// this hub, or a file.
func (m *Manager) deadLetter(def *config.Bridge, sink bridge.Sink) (bridge.DeadLetter, error) {
	dl := def.DeadLetter
	switch {
	case dl.KafkaTopic != "":
		p, ok := sink.(bridge.DeadLetterProducer)
		if !ok {
			return nil, fmt.Errorf("dead_letter.kafka_topic: a %s bridge cannot produce to Kafka (use mqtt_topic or file)", def.Type)
		}
		return p.DeadLetter(dl.KafkaTopic, def.Name), nil
	case dl.MQTTTopic != "":
		if m.pub == nil {
			return nil, errors.New("dead_letter.mqtt_topic: no hub to publish to")
		}
		return &mqttDeadLetter{name: def.Name, topic: dl.MQTTTopic, pub: m.pub}, nil
	case dl.File != "":
		path := dl.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(QueueDir(m.dataDir, def.Name), path)
		}
		f, err := bridge.NewFileDeadLetter(def.Name, path, int64(dl.MaxBytes), m.log)
		if err != nil {
			return nil, fmt.Errorf("dead_letter.file: %w", err)
		}
		return f, nil
	}
	return nil, nil
}

// mqttDeadLetter publishes each dead record into the hub, as JSON
// (bridge.DeadRecord), QoS 1.
type mqttDeadLetter struct {
	name, topic string
	pub         Publisher
}

// Write implements bridge.DeadLetter.
func (d *mqttDeadLetter) Write(ctx context.Context, recs []bridge.Record, errs []error) error {
	now := time.Now()
	for i := range recs {
		b, err := json.Marshal(bridge.NewDeadRecord(d.name, &recs[i], errs[i], now))
		if err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
		m := &msg.Message{Topic: d.topic, Payload: b, QoS: 1, ContentType: "application/json",
			Origin: msg.Origin{Kind: msg.OriginBridge, Name: d.name}}
		if _, err := d.pub.Publish(ctx, m); err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
	}
	return nil
}

// Close implements bridge.DeadLetter.
func (d *mqttDeadLetter) Close() error { return nil }
