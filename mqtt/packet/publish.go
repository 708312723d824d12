package packet

import "github.com/iothub-dev/iothub/mqtt/topic"

// checkTopicName validates a topic name with the topic package.
func checkTopicName(s string) error { return topic.ValidateName(s) }

// Type returns TypePublish.
func (p *Publish) Type() Type { return TypePublish }

// Decode fills p from a PUBLISH body. Topic, properties and payload alias
// body; an empty payload decodes to nil.
func (p *Publish) Decode(fh FixedHeader, body []byte, v Version) error {
	*p = Publish{}
	if err := checkHeader(fh, TypePublish, len(body)); err != nil {
		return err
	}
	if err := checkVersion(TypePublish, v); err != nil {
		return err
	}
	p.Dup, p.QoS, p.Retain = fh.Flags&0x08 != 0, (fh.Flags>>1)&0x03, fh.Flags&0x01 != 0
	if p.QoS == 0 && p.Dup {
		return malformedf("publish: DUP set on a QoS 0 message")
	}
	d := decoder{b: body, pkt: "publish"}
	p.Topic = d.string("topic")
	if p.QoS > 0 {
		p.PacketID = d.u16("packet identifier")
		if p.PacketID == 0 && d.err == nil {
			return protocolf("publish: packet identifier 0 with QoS %d", p.QoS)
		}
	}
	if v == V5 {
		p.Properties.decode(&d, &publishProps)
	}
	if d.err != nil {
		return d.err
	}
	if err := p.checkTopic(v); err != nil {
		return err
	}
	p.Payload = d.rest()
	return nil
}

// checkTopic applies the topic-name rules: a valid name, or in v5 an empty
// name with a topic alias.
func (p *Publish) checkTopic(v Version) error {
	if p.Topic == "" && v == V5 {
		if p.Properties.TopicAlias == 0 {
			return protocolf("publish: empty topic name without topic alias")
		}
		return nil
	}
	if err := topic.ValidateName(p.Topic); err != nil {
		return wrapMalformed("publish: topic", err)
	}
	return nil
}

// bodyLen validates p for version v and returns its remaining length and
// the size of its property block.
func (p *Publish) bodyLen(v Version) (n, props int, err error) {
	if err := checkVersion(TypePublish, v); err != nil {
		return 0, 0, err
	}
	if p.QoS > 2 {
		return 0, 0, encodeErrorf("publish: QoS %d", p.QoS)
	}
	if p.QoS == 0 && p.Dup {
		return 0, 0, encodeErrorf("publish: DUP set on a QoS 0 message")
	}
	if p.QoS > 0 && p.PacketID == 0 {
		return 0, 0, encodeErrorf("publish: packet identifier 0 with QoS %d", p.QoS)
	}
	n, err = strLen(p.Topic, "publish: topic")
	if err == nil {
		err = p.checkTopic(v)
	}
	if err != nil {
		return 0, 0, err
	}
	if p.QoS > 0 {
		n += 2
	}
	if v == V5 {
		if props, err = p.Properties.encodedLen(&publishProps); err != nil {
			return 0, 0, err
		}
		n += VarIntLen(props) + props
	}
	n += len(p.Payload)
	return n, props, checkRemaining(TypePublish, n)
}

// Size returns the number of bytes p takes on the wire for version v, fixed
// header included, so a server can compare it with a client's Maximum Packet
// Size before encoding. It returns the error AppendTo would return.
func (p *Publish) Size(v Version) (int, error) {
	n, _, err := p.bodyLen(v)
	if err != nil {
		return 0, err
	}
	return 1 + VarIntLen(n) + n, nil
}

// AppendTo appends the encoded PUBLISH to dst. The packet identifier is only
// written for QoS 1 and 2; properties only for v5.
func (p *Publish) AppendTo(dst []byte, v Version) ([]byte, error) {
	n, props, err := p.bodyLen(v)
	if err != nil {
		return dst, err
	}
	first := byte(TypePublish)<<4 | p.QoS<<1
	if p.Dup {
		first |= 0x08
	}
	if p.Retain {
		first |= 0x01
	}
	dst = appendString(appendHeader(dst, first, n), p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	if v == V5 {
		dst = p.Properties.appendTo(dst, props)
	}
	return append(dst, p.Payload...), nil
}
