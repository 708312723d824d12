package broker

import (
	"fmt"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// handle dispatches one packet. Before CONNECT only CONNECT is allowed; a
// second CONNECT is a protocol error. A returned error closes the connection
// with the reason code it carries.
func (c *conn) handle(fh packet.FixedHeader, body []byte) error {
	if c.sess == nil {
		if fh.Type != packet.TypeConnect {
			return protoErr(packet.ProtocolError, "%s before CONNECT", fh.Type)
		}
		return c.handleConnect(fh, body)
	}
	defer c.armKeepAlive()
	switch fh.Type {
	case packet.TypePublish:
		return c.handlePublish(fh, body)
	case packet.TypePuback, packet.TypePubrec, packet.TypePubrel, packet.TypePubcomp:
		return c.handleAck(fh, body)
	case packet.TypeSubscribe:
		return c.handleSubscribe(fh, body)
	case packet.TypeUnsubscribe:
		return c.handleUnsubscribe(fh, body)
	case packet.TypePingreq:
		return c.handlePingreq(fh, body)
	case packet.TypeDisconnect:
		return c.handleDisconnect(fh, body)
	case packet.TypeConnect:
		return protoErr(packet.ProtocolError, "second CONNECT")
	case packet.TypeAuth:
		return protoErr(packet.ProtocolError, "AUTH without an authentication method")
	default:
		return protoErr(packet.ProtocolError, "%s is not sent by clients", fh.Type)
	}
}

// protoErr builds a *packet.Error with code and a formatted message.
func protoErr(code packet.ReasonCode, format string, args ...any) error {
	return &packet.Error{Code: code, Err: fmt.Errorf(format, args...)}
}

func (c *conn) handlePingreq(fh packet.FixedHeader, body []byte) error {
	var p packet.Pingreq
	if err := p.Decode(fh, body, c.version); err != nil {
		return err
	}
	c.enqueue(outItem{pkt: pingresp})
	return nil
}

var pingresp = &packet.Pingresp{}

func (c *conn) handleDisconnect(fh packet.FixedHeader, body []byte) error {
	var p packet.Disconnect
	if err := p.Decode(fh, body, c.version); err != nil {
		return err
	}
	if c.version == packet.V5 && p.Properties.HasSessionExpiry {
		if err := c.sess.updateExpiryOnDisconnect(p.Properties.SessionExpiry); err != nil {
			return err
		}
	}
	c.normalClose = true
	c.willOnClose = p.ReasonCode == packet.DisconnectWithWill
	if c.s.events.wants(msg.EventClientDisconnected) {
		c.disconnProps = propsMap(&p.Properties) // events_client.go
	}
	c.setCause("normal")
	c.finish()
	return nil
}
