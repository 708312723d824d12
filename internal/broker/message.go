package broker

import (
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// The mapping between the hub's msg.Message and the codec's
// packet.Publish, written once: for an inbound PUBLISH (newMessage), for
// an outbound one (encodePublish) and for the stored form of a message
// (persist_record.go), which is an MQTT 5 PUBLISH too.

// messageFromPublish returns the message a decoded PUBLISH carries: topic,
// payload, QoS, retain and the MQTT 5 message properties. Its strings and
// slices alias p's. Who sent it, when, and its expiry are the caller's.
func messageFromPublish(p *packet.Publish) *msg.Message {
	pr := &p.Properties
	return &msg.Message{
		Topic:           p.Topic,
		Payload:         p.Payload,
		QoS:             p.QoS,
		Retain:          p.Retain,
		PayloadFormat:   pr.PayloadFormat,
		ContentType:     pr.ContentType,
		ResponseTopic:   pr.ResponseTopic,
		CorrelationData: pr.CorrelationData,
		UserProperties:  userProps(pr.User),
	}
}

// setMessageProps sets the MQTT 5 message properties of m on pr: payload
// format, content type, response topic, correlation data and user
// properties (expiry, aliases and subscription ids depend on the
// delivery and are the caller's).
func setMessageProps(pr *packet.Properties, m *msg.Message) {
	pr.PayloadFormat = m.PayloadFormat
	pr.ContentType = m.ContentType
	pr.ResponseTopic = m.ResponseTopic
	pr.CorrelationData = m.CorrelationData
	pr.User = nil
	if len(m.UserProperties) > 0 {
		pr.User = make([]packet.UserProperty, len(m.UserProperties))
		for i, u := range m.UserProperties {
			pr.User[i] = packet.UserProperty{Key: u.Key, Value: u.Value}
		}
	}
}

// userProps converts a packet's user properties (nil for none).
func userProps(in []packet.UserProperty) []msg.UserProperty {
	if len(in) == 0 {
		return nil
	}
	out := make([]msg.UserProperty, len(in))
	for i, u := range in {
		out[i] = msg.UserProperty{Key: u.Key, Value: u.Value}
	}
	return out
}
