package mqtt

import (
	"fmt"
	"strconv"
	"time"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// Type is this package's bridge type.
const Type = "mqtt"

func init() {
	bridge.RegisterType(bridge.TypeInfo{Name: Type, New: func() bridge.Config { return NewConfig() }, Example: example})
}

// Config is the mqtt type's keys: a client connection to another broker
// (another iothub, Mosquitto, EMQX) that forwards local messages to it and
// publishes what it receives from it locally (docs/bridges.md).
type Config struct {
	MQTT Settings `yaml:"mqtt"`
}

// Settings is the mqtt section (TLS is the bridge's tls section).
type Settings struct {
	// Address is the remote broker's host:port.
	Address string `yaml:"address"`
	// ProtocolVersion is 5 (MQTT 5.0, the only one supported: No Local and
	// user properties carry the loop prevention).
	ProtocolVersion int `yaml:"protocol_version"`
	// ClientID is the bridge's client id on the remote ("": iothub-bridge-<name>).
	ClientID string `yaml:"client_id"`
	// Username and Password authenticate the bridge on the remote.
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"`
	// KeepAlive is the MQTT keep alive.
	KeepAlive config.Duration `yaml:"keep_alive"`
	// SessionExpiry keeps the bridge's session on the remote across a
	// disconnection (its subscriptions queue commands meanwhile).
	SessionExpiry config.Duration `yaml:"session_expiry"`
	// ConnectTimeout bounds a connection attempt; reconnections back off
	// up to ReconnectMax.
	ConnectTimeout config.Duration `yaml:"connect_timeout"`
	ReconnectMax   config.Duration `yaml:"reconnect_max"`
	// RemoteTopic is the remote topic template of forwarded messages.
	RemoteTopic string `yaml:"remote_topic"`
	// QoS of forwarded messages (1: each batch waits for its PUBACKs).
	QoS int `yaml:"qos"`
	// MultiHop forwards messages that already came through a bridge of
	// another hub (a chain edge → region → cloud); off, one hop only.
	MultiHop bool `yaml:"multi_hop"`
	// Subscribe are the remote filters published locally.
	Subscribe []config.MQTTSubscription `yaml:"subscribe"`
}

// NewConfig returns the mqtt defaults.
func NewConfig() *Config {
	return &Config{MQTT: Settings{ProtocolVersion: 5, KeepAlive: config.Duration(30 * time.Second),
		SessionExpiry: config.Duration(time.Hour), ConnectTimeout: config.Duration(10 * time.Second),
		ReconnectMax: config.Duration(30 * time.Second), RemoteTopic: "${topic}", QoS: 1}}
}

// Validate implements bridge.Config.
func (c *Config) Validate() error {
	var v config.Checker
	m := &c.MQTT
	if m.Address == "" {
		v.Bad("mqtt.address", "required")
	} else {
		v.Address("mqtt.address", m.Address)
	}
	if m.ProtocolVersion != 5 {
		v.Bad("mqtt.protocol_version", "%d: only 5 (MQTT 5.0) is supported", m.ProtocolVersion)
	}
	v.Duration("mqtt.keep_alive", m.KeepAlive, time.Second, 18*time.Hour)
	v.Duration("mqtt.connect_timeout", m.ConnectTimeout, 100*time.Millisecond, 0)
	v.Duration("mqtt.reconnect_max", m.ReconnectMax, 100*time.Millisecond, 0)
	v.Required("mqtt.remote_topic", m.RemoteTopic)
	v.Between("mqtt.qos", m.QoS, 0, 1)
	for i, s := range m.Subscribe {
		k := "mqtt.subscribe." + strconv.Itoa(i)
		v.Required(k+".filter", s.Filter)
		v.Between(k+".qos", s.QoS, 0, 2)
		v.Required(k+".local_topic", s.LocalTopic)
	}
	return v.Err()
}

// Build implements bridge.Config: the Link (connected by Parts.Start) as
// the sink, and as the source when it subscribes remote filters; the
// remote topic template; the loop prevention (Skip) and the user
// properties and marker of forwarded messages (Decorate).
func (c *Config) Build(bc bridge.BuildContext) (*bridge.Parts, error) {
	m := c.MQTT
	o := Options{Name: bc.Name, Address: m.Address, ClientID: m.ClientID, Username: m.Username,
		Password: string(m.Password), KeepAlive: m.KeepAlive.D(), SessionExpiry: m.SessionExpiry.D(),
		ConnectTimeout: m.ConnectTimeout.D(), ReconnectMax: m.ReconnectMax.D(), QoS: byte(m.QoS), Logger: bc.Logger}
	if o.ClientID == "" {
		o.ClientID = "iothub-bridge-" + bc.Name
	}
	if bc.TLSEnabled {
		o.TLS = bc.TLS
	}
	for _, s := range m.Subscribe {
		o.Subscriptions = append(o.Subscriptions, Subscription{Filter: s.Filter, QoS: byte(s.QoS), LocalTopic: s.LocalTopic})
	}
	l, err := New(o)
	if err != nil {
		return nil, err
	}
	parts := &bridge.Parts{Sink: l, Start: l.Start,
		Templates: bridge.Templates{Topic: bridge.TemplateSpec{Key: "mqtt.remote_topic", Text: m.RemoteTopic},
			Value: bridge.TemplateSpec{Key: "mqtt.remote_topic", Text: "${payload}"},
			Check: func(r *bridge.Record) error {
				if err := topic.ValidateName(r.Topic); err != nil {
					return fmt.Errorf("remote topic %q: %w", r.Topic, err)
				}
				return nil
			}},
		Skip:     skip(msg.Origin{Kind: msg.OriginBridge, Name: bc.Name}, bc.Node, m.MultiHop),
		Decorate: decorate(bc.Node)}
	if len(o.Subscriptions) > 0 {
		parts.Source = l.Source()
	}
	return parts, nil
}

// skip is the loop prevention of forwarding: a message this bridge
// published locally (its origin), one carrying this hub's marker, and,
// without multi-hop, one carrying any hub's marker are not forwarded.
func skip(origin msg.Origin, node string, multiHop bool) func(*msg.Message) bool {
	return func(m *msg.Message) bool {
		if m == nil {
			return false
		}
		if m.Origin == origin {
			return true
		}
		for _, u := range m.UserProperties {
			if u.Key == MarkerKey && (!multiHop || u.Value == node) {
				return true
			}
		}
		return false
	}
}

// decorate copies the message's user properties to the record and adds
// this hub's marker.
func decorate(node string) func(*msg.Message, *bridge.Record) {
	return func(m *msg.Message, r *bridge.Record) {
		if m != nil {
			for _, u := range m.UserProperties {
				r.Headers = append(r.Headers, bridge.Header{Key: u.Key, Value: []byte(u.Value)})
			}
		}
		r.Headers = append(r.Headers, bridge.Header{Key: MarkerKey, Value: []byte(node)})
	}
}

const example = `mqtt:
  address: "" # remote broker host:port (required)
  protocol_version: 5 # 5 (MQTT 5.0, the only one supported)
  client_id: "" # client id on the remote ("": iothub-bridge-<name>)
  username: "" # user on the remote
  password: "" # password on the remote
  keep_alive: 30s # MQTT keep alive
  session_expiry: 1h # the remote keeps the bridge's session (queued commands) this long
  connect_timeout: 10s # bound on a connection attempt
  reconnect_max: 30s # longest wait between reconnection attempts (exponential backoff)
  remote_topic: ${topic} # remote topic template of forwarded messages, e.g. edge/${node}/${topic}
  qos: 1 # QoS of forwarded messages: 0 or 1 (a batch waits for its PUBACKs)
  multi_hop: false # also forward messages that came through another hub's bridge
  subscribe:
    - filter: edge/+/cmd/# # remote topic filter
      qos: 1 # subscription QoS
      local_topic: ${topic} # local topic template: ${topic} or ${suffix} (from the first wildcard on)
`

var _ bridge.Config = (*Config)(nil)
