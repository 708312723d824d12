package bridgemgr

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/mqtt"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// mqttTemplates renders a rule output as the remote PUBLISH: topic from
// mqtt.remote_topic, the message payload as the value; a topic that is
// not a valid topic name is refused at enqueue.
func mqttTemplates(def *config.Bridge) sinkTemplates {
	return sinkTemplates{topic: keyed{"mqtt.remote_topic", def.MQTT.RemoteTopic},
		value: keyed{"mqtt.remote_topic", "${payload}"},
		check: func(r *bridge.Record) error {
			if err := topic.ValidateName(r.Topic); err != nil {
				return fmt.Errorf("remote topic %q: %w", r.Topic, err)
			}
			return nil
		}}
}

// mqttOptions maps the mqtt section (loading the TLS files when log is
// not nil, that is when starting).
func mqttOptions(def *config.Bridge, log *slog.Logger) (mqtt.Options, error) {
	c := def.MQTT
	o := mqtt.Options{Name: def.Name, Address: c.Address, ClientID: c.ClientID, Username: c.Username,
		Password: string(c.Password), KeepAlive: c.KeepAlive.D(), SessionExpiry: c.SessionExpiry.D(),
		ConnectTimeout: c.ConnectTimeout.D(), ReconnectMax: c.ReconnectMax.D(), QoS: byte(c.QoS), Logger: log}
	if o.ClientID == "" {
		o.ClientID = "iothub-bridge-" + def.Name
	}
	for _, s := range c.Subscribe {
		o.Subscriptions = append(o.Subscriptions, mqtt.Subscription{Filter: s.Filter, QoS: byte(s.QoS), LocalTopic: s.LocalTopic})
	}
	if !c.TLS.Enabled || log == nil {
		return o, nil
	}
	t := c.TLS
	tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // an explicit, documented test setting
		MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return o, fmt.Errorf("mqtt.tls.ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return o, fmt.Errorf("mqtt.tls.ca_file: no PEM certificate in %s", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return o, fmt.Errorf("mqtt.tls.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	o.TLS = tc
	return o, nil
}

// checkMQTT parses an mqtt bridge's templates without connecting.
func checkMQTT(def *config.Bridge) error {
	if _, err := newSinkMapping(mqttTemplates(def)); err != nil {
		return err
	}
	o, err := mqttOptions(def, nil)
	if err != nil {
		return err
	}
	_, err = mqtt.New(o)
	return err
}

// startMQTT starts the link, its forwarding sink under the shared runner,
// and its source when it subscribes remote filters.
func (m *Manager) startMQTT(def *config.Bridge, log *slog.Logger) (*running, error) {
	mp, err := newSinkMapping(mqttTemplates(def))
	if err != nil {
		return nil, err
	}
	o, err := mqttOptions(def, log)
	if err != nil {
		return nil, err
	}
	l, err := mqtt.New(o)
	if err != nil {
		return nil, err
	}
	if err := l.Start(); err != nil {
		return nil, err
	}
	r, err := m.startSink(def, l, mp)
	if err != nil {
		return nil, err
	}
	r.skip = mqttSkip(msg.Origin{Kind: msg.OriginBridge, Name: def.Name}, m.node, def.MQTT.MultiHop)
	r.decorate = mqttDecorate(m.node)
	if len(o.Subscriptions) > 0 {
		r.source = bridge.NewSourceRunner(l.Source(), m.publishFunc(), bridge.SourceOptions{Name: def.Name, Logger: m.log})
		r.source.Start()
	}
	return r, nil
}

// mqttSkip is the loop prevention of forwarding: a message this bridge
// published locally (its origin), one carrying this hub's marker, and,
// without multi-hop, one carrying any hub's marker are not forwarded.
func mqttSkip(origin msg.Origin, node string, multiHop bool) func(*rule.Output) bool {
	return func(out *rule.Output) bool {
		if out.Event == nil || out.Event.Message == nil {
			return false
		}
		mm := out.Event.Message
		if mm.Origin == origin {
			return true
		}
		for _, u := range mm.UserProperties {
			if u.Key == mqtt.MarkerKey && (!multiHop || u.Value == node) {
				return true
			}
		}
		return false
	}
}

// mqttDecorate copies the message's user properties to the record and
// adds this hub's marker.
func mqttDecorate(node string) func(*rule.Output, *bridge.Record) {
	return func(out *rule.Output, r *bridge.Record) {
		if out.Event != nil && out.Event.Message != nil {
			for _, u := range out.Event.Message.UserProperties {
				r.Headers = append(r.Headers, bridge.Header{Key: u.Key, Value: []byte(u.Value)})
			}
		}
		r.Headers = append(r.Headers, bridge.Header{Key: mqtt.MarkerKey, Value: []byte(node)})
	}
}
