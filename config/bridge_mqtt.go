package config

import (
	"reflect"
	"strconv"
	"time"
)

// MQTTBridge is the mqtt bridge: a client connection to another broker
// (another iothub, Mosquitto, EMQX) that forwards local messages to it and
// publishes what it receives from it locally (docs/bridges.md).
type MQTTBridge struct {
	// Address is the remote broker's host:port.
	Address string `yaml:"address" json:"address"`
	// ProtocolVersion is 5 (MQTT 5.0, the only one supported: No Local and
	// user properties carry the loop prevention).
	ProtocolVersion int `yaml:"protocol_version" json:"protocol_version"`
	// ClientID is the bridge's client id on the remote ("": iothub-bridge-<name>).
	ClientID string `yaml:"client_id" json:"client_id"`
	// Username and Password authenticate the bridge on the remote.
	Username string `yaml:"username" json:"username"`
	Password Secret `yaml:"password" json:"password"`
	// TLS encrypts the connection.
	TLS KafkaTLS `yaml:"tls" json:"tls"`
	// KeepAlive is the MQTT keep alive.
	KeepAlive Duration `yaml:"keep_alive" json:"keep_alive"`
	// SessionExpiry keeps the bridge's session on the remote across a
	// disconnection (its subscriptions queue commands meanwhile).
	SessionExpiry Duration `yaml:"session_expiry" json:"session_expiry"`
	// ConnectTimeout bounds a connection attempt; reconnections back off
	// up to ReconnectMax.
	ConnectTimeout Duration `yaml:"connect_timeout" json:"connect_timeout"`
	ReconnectMax   Duration `yaml:"reconnect_max" json:"reconnect_max"`
	// RemoteTopic is the remote topic template of forwarded messages.
	RemoteTopic string `yaml:"remote_topic" json:"remote_topic"`
	// QoS of forwarded messages (1: each batch waits for its PUBACKs).
	QoS int `yaml:"qos" json:"qos"`
	// MultiHop forwards messages that already came through a bridge of
	// another hub (a chain edge → region → cloud); off, one hop only.
	MultiHop bool `yaml:"multi_hop" json:"multi_hop"`
	// Subscribe are the remote filters published locally.
	Subscribe []MQTTSubscription `yaml:"subscribe" json:"subscribe"`
}

// MQTTSubscription is one remote filter of an mqtt bridge.
type MQTTSubscription struct {
	// Filter is the remote topic filter.
	Filter string `yaml:"filter" json:"filter"`
	// QoS is the subscription's maximum QoS.
	QoS int `yaml:"qos" json:"qos"`
	// LocalTopic is the local topic template: ${topic} (the remote topic)
	// or ${suffix} (the part matched from the filter's first wildcard on).
	LocalTopic string `yaml:"local_topic" json:"local_topic"`
}

func defaultMQTTBridge() MQTTBridge {
	return MQTTBridge{ProtocolVersion: 5, KeepAlive: Duration(30 * time.Second),
		SessionExpiry: Duration(time.Hour), ConnectTimeout: Duration(10 * time.Second),
		ReconnectMax: Duration(30 * time.Second), RemoteTopic: "${topic}", QoS: 1}
}

func init() {
	elemDefaults[reflect.TypeFor[MQTTSubscription]()] = func() any { return MQTTSubscription{QoS: 1, LocalTopic: "${topic}"} }
}

func (m *MQTTBridge) validate(key string, v *checker) {
	if m.Address == "" {
		v.bad(join(key, "mqtt.address"), "required")
	} else {
		v.address(join(key, "mqtt.address"), m.Address)
	}
	if m.ProtocolVersion != 5 {
		v.bad(join(key, "mqtt.protocol_version"), "%d: only 5 (MQTT 5.0) is supported", m.ProtocolVersion)
	}
	v.file(join(key, "mqtt.tls.ca_file"), m.TLS.CAFile, false)
	if (m.TLS.CertFile == "") != (m.TLS.KeyFile == "") {
		v.bad(join(key, "mqtt.tls.cert_file"), "cert_file and key_file go together")
	}
	v.duration(join(key, "mqtt.keep_alive"), m.KeepAlive, time.Second, 18*time.Hour)
	v.duration(join(key, "mqtt.connect_timeout"), m.ConnectTimeout, 100*time.Millisecond, 0)
	v.duration(join(key, "mqtt.reconnect_max"), m.ReconnectMax, 100*time.Millisecond, 0)
	if m.RemoteTopic == "" {
		v.bad(join(key, "mqtt.remote_topic"), "required")
	}
	v.between(join(key, "mqtt.qos"), m.QoS, 0, 1)
	for i, s := range m.Subscribe {
		k := join(key, "mqtt.subscribe.") + strconv.Itoa(i)
		if s.Filter == "" {
			v.bad(join(k, "filter"), "required")
		}
		v.between(join(k, "qos"), s.QoS, 0, 2)
		if s.LocalTopic == "" {
			v.bad(join(k, "local_topic"), "required")
		}
	}
}
