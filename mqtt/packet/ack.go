package packet

var ackNames = [...]string{TypePuback: "puback", TypePubrec: "pubrec", TypePubrel: "pubrel", TypePubcomp: "pubcomp"}

// isAckType reports whether t is PUBACK, PUBREC, PUBREL or PUBCOMP.
func isAckType(t Type) bool { return t >= TypePuback && t <= TypePubcomp }

// Type returns the packet's PacketType (PUBACK, PUBREC, PUBREL or PUBCOMP).
func (a *Ack) Type() Type { return a.PacketType }

// Decode fills a from a PUBACK, PUBREC, PUBREL or PUBCOMP body; the type
// comes from fh. In v5 a missing reason code means Success.
func (a *Ack) Decode(fh FixedHeader, body []byte, v Version) error {
	*a = Ack{PacketType: fh.Type}
	if !isAckType(fh.Type) {
		return malformedf("ack: fixed header has type %s", fh.Type)
	}
	if err := checkHeader(fh, fh.Type, len(body)); err != nil {
		return err
	}
	if err := checkVersion(fh.Type, v); err != nil {
		return err
	}
	name := ackNames[fh.Type]
	d := decoder{b: body, pkt: name}
	a.PacketID = d.u16("packet identifier")
	if d.err == nil && a.PacketID == 0 {
		return protocolf("%s: packet identifier 0", name)
	}
	if v == V5 && d.remaining() > 0 {
		a.ReasonCode = ReasonCode(d.u8("reason code"))
		if !ackCodesByType[fh.Type].has(a.ReasonCode) {
			return protocolf("%s: reason code 0x%02x not allowed", name, byte(a.ReasonCode))
		}
		if d.remaining() > 0 {
			a.Properties.decode(&d, &ackProps)
		}
	}
	return d.finish()
}

// bodyLen validates a and returns its remaining length and property size.
func (a *Ack) bodyLen(v Version) (n, props int, err error) {
	if !isAckType(a.PacketType) {
		return 0, 0, errBadAckType
	}
	if err := checkVersion(a.PacketType, v); err != nil {
		return 0, 0, err
	}
	if a.PacketID == 0 {
		return 0, 0, encodeErrorf("%s: packet identifier 0", ackNames[a.PacketType])
	}
	if v != V5 {
		return 2, 0, nil
	}
	if !ackCodesByType[a.PacketType].has(a.ReasonCode) {
		return 0, 0, encodeErrorf("%s: reason code 0x%02x not allowed", ackNames[a.PacketType], byte(a.ReasonCode))
	}
	if props, err = a.Properties.encodedLen(&ackProps); err != nil {
		return 0, 0, err
	}
	return reasonBodyLen(2, a.ReasonCode, props), props, nil
}

// reasonBodyLen is the remaining length of a packet of fixed part n followed
// by an optional reason code and optional properties: both are left out when
// they hold nothing.
func reasonBodyLen(n int, rc ReasonCode, props int) int {
	switch {
	case props > 0:
		return n + 1 + VarIntLen(props) + props
	case rc != Success:
		return n + 1
	}
	return n
}

// appendReason appends the reason code and properties of a packet whose
// fixed part has length fixed, per the layout reasonBodyLen chose.
func appendReason(dst []byte, fixed, n int, rc ReasonCode, p *Properties, props int) []byte {
	if n > fixed {
		dst = append(dst, byte(rc))
	}
	if n > fixed+1 {
		dst = p.appendTo(dst, props)
	}
	return dst
}

// AppendTo appends the encoded acknowledgement to dst. In v5 the reason code
// and properties are left out when they are Success and empty.
func (a *Ack) AppendTo(dst []byte, v Version) ([]byte, error) {
	n, props, err := a.bodyLen(v)
	if err != nil {
		return dst, err
	}
	dst = appendHeader(dst, byte(a.PacketType)<<4|fixedFlags(a.PacketType), n)
	dst = appendUint16(dst, a.PacketID)
	return appendReason(dst, 2, n, a.ReasonCode, &a.Properties, props), nil
}
