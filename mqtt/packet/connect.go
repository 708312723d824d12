package packet

import "fmt"

// Protocol names carried in CONNECT.
const (
	ProtocolNameMQTT   = "MQTT"   // 3.1.1 and 5.0
	ProtocolNameMQIsdp = "MQIsdp" // 3.1
)

// CONNECT flag bits.
const (
	connectReserved   = 0x01
	connectCleanStart = 0x02
	connectWill       = 0x04
	connectWillRetain = 0x20
	connectPassword   = 0x40
	connectUsername   = 0x80
)

// protocolName returns the protocol name of version v.
func protocolName(v Version) string {
	if v == V31 {
		return ProtocolNameMQIsdp
	}
	return ProtocolNameMQTT
}

// Type returns TypeConnect.
func (c *Connect) Type() Type { return TypeConnect }

// Decode fills c from a CONNECT body. The version comes from the packet
// itself: v may be 0 (a server reading the first packet of a connection);
// otherwise it is ignored. An unsupported protocol name or level returns a
// *Error with UnsupportedProtocolVersion, and c.ProtocolName and c.Version
// are then set to what the packet carried so the server can answer in kind.
func (c *Connect) Decode(fh FixedHeader, body []byte, _ Version) error {
	*c = Connect{}
	d, err := startDecode(fh, body, V311, TypeConnect, "connect")
	if err != nil {
		return err
	}
	c.ProtocolName = d.string("protocol name")
	c.Version = Version(d.u8("protocol level"))
	if d.err != nil {
		return d.err
	}
	if c.ProtocolName != protocolName(c.Version) || checkVersion(TypeConnect, c.Version) != nil {
		return &Error{Code: UnsupportedProtocolVersion, Err: fmt.Errorf(
			"connect: unsupported protocol %q level %d: %w", c.ProtocolName, byte(c.Version), ErrProtocol)}
	}
	flags := d.u8("connect flags")
	c.KeepAlive = d.u16("keep alive")
	if d.err != nil {
		return d.err
	}
	if err := c.setFlags(flags); err != nil {
		return err
	}
	if c.Version == V5 {
		c.Properties.decode(&d, &connectProps)
	}
	c.decodePayload(&d)
	return d.finish()
}

// setFlags checks the connect flags byte and sets the flag fields.
func (c *Connect) setFlags(f byte) error {
	c.CleanStart = f&connectCleanStart != 0
	c.WillFlag = f&connectWill != 0
	c.WillQoS = (f >> 3) & 0x03
	c.WillRetain = f&connectWillRetain != 0
	c.PasswordFlag = f&connectPassword != 0
	c.UsernameFlag = f&connectUsername != 0
	switch {
	case f&connectReserved != 0:
		return malformedf("connect: reserved flag bit set")
	case c.WillQoS == 3:
		return malformedf("connect: will QoS 3")
	case !c.WillFlag && (c.WillQoS != 0 || c.WillRetain):
		return malformedf("connect: will QoS or retain set without will flag")
	case c.Version != V5 && c.PasswordFlag && !c.UsernameFlag:
		return malformedf("connect: password flag without user name flag")
	}
	return nil
}

// decodePayload reads client identifier, will, user name and password.
func (c *Connect) decodePayload(d *decoder) {
	c.ClientID = d.string("client identifier")
	if c.WillFlag {
		if c.Version == V5 {
			c.WillProperties.decode(d, &willProps)
		}
		c.WillTopic = d.string("will topic")
		if err := checkTopicName(c.WillTopic); err != nil && d.err == nil {
			d.fail(wrapMalformed("connect: will topic", err))
		}
		c.WillPayload = d.binary("will payload")
	}
	if c.UsernameFlag {
		c.Username = d.string("user name")
	}
	if c.PasswordFlag {
		c.Password = d.binary("password")
	}
}

// connectLens holds the sizes computed while validating a CONNECT.
type connectLens struct {
	v           Version
	n           int // remaining length
	props, will int // property block sizes
}

func (c *Connect) bodyLen(v Version) (connectLens, error) {
	l := connectLens{v: v}
	if v == 0 {
		l.v = c.Version
	}
	if err := checkVersion(TypeConnect, l.v); err != nil {
		return l, err
	}
	if c.Version != 0 && c.Version != l.v {
		return l, encodeErrorf("connect: Version %s but encoding for %s", c.Version, l.v)
	}
	if c.ProtocolName != "" && c.ProtocolName != protocolName(l.v) {
		return l, encodeErrorf("connect: protocol name %q for version %s", c.ProtocolName, l.v)
	}
	if err := c.checkFlags(l.v); err != nil {
		return l, err
	}
	l.n = 2 + len(protocolName(l.v)) + 1 + 1 + 2
	var err error
	if l.v == V5 {
		if l.props, err = c.Properties.encodedLen(&connectProps); err != nil {
			return l, err
		}
		l.n += VarIntLen(l.props) + l.props
	}
	m, err := c.payloadLen(&l)
	l.n += m
	if err == nil {
		err = checkRemaining(TypeConnect, l.n)
	}
	return l, err
}

// checkFlags refuses flag fields that cannot be encoded.
func (c *Connect) checkFlags(v Version) error {
	switch {
	case c.WillQoS > 2:
		return encodeErrorf("connect: will QoS %d", c.WillQoS)
	case !c.WillFlag && (c.WillQoS != 0 || c.WillRetain || c.WillTopic != "" || len(c.WillPayload) > 0):
		return encodeErrorf("connect: will fields set without WillFlag")
	case !c.UsernameFlag && c.Username != "", !c.PasswordFlag && len(c.Password) > 0:
		return encodeErrorf("connect: user name or password set without its flag")
	case v != V5 && c.PasswordFlag && !c.UsernameFlag:
		return encodeErrorf("connect: password without user name in %s", v)
	}
	return nil
}

// payloadLen validates the payload fields and returns their size.
func (c *Connect) payloadLen(l *connectLens) (int, error) {
	n, err := strLen(c.ClientID, "connect: client identifier")
	if err != nil {
		return 0, err
	}
	if c.WillFlag {
		if l.v == V5 {
			if l.will, err = c.WillProperties.encodedLen(&willProps); err != nil {
				return 0, err
			}
			n += VarIntLen(l.will) + l.will
		}
		if err := checkTopicName(c.WillTopic); err != nil {
			return 0, wrapMalformed("encode connect: will topic", err)
		}
		m, err := strLen(c.WillTopic, "connect: will topic")
		k, err2 := binLen(c.WillPayload, "connect: will payload")
		if err = cmpErr(err, err2); err != nil {
			return 0, err
		}
		n += m + k
	}
	if c.UsernameFlag {
		m, err := strLen(c.Username, "connect: user name")
		if err != nil {
			return 0, err
		}
		n += m
	}
	if c.PasswordFlag {
		m, err := binLen(c.Password, "connect: password")
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// cmpErr returns the first non-nil error.
func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// flagsByte returns the encoded connect flags.
func (c *Connect) flagsByte() byte {
	f := c.WillQoS<<3 | boolByte(c.CleanStart)<<1 | boolByte(c.WillFlag)<<2
	f |= boolByte(c.WillRetain)<<5 | boolByte(c.PasswordFlag)<<6 | boolByte(c.UsernameFlag)<<7
	return f
}

// AppendTo appends the encoded CONNECT to dst. The protocol level is v, or
// c.Version when v is 0; the protocol name follows from it ("MQIsdp" for
// 3.1, "MQTT" otherwise) and c.ProtocolName, when set, must match.
func (c *Connect) AppendTo(dst []byte, v Version) ([]byte, error) {
	l, err := c.bodyLen(v)
	if err != nil {
		return dst, err
	}
	dst = appendString(appendHeader(dst, byte(TypeConnect)<<4, l.n), protocolName(l.v))
	dst = appendUint16(append(dst, byte(l.v), c.flagsByte()), c.KeepAlive)
	if l.v == V5 {
		dst = c.Properties.appendTo(dst, l.props)
	}
	dst = appendString(dst, c.ClientID)
	if c.WillFlag {
		if l.v == V5 {
			dst = c.WillProperties.appendTo(dst, l.will)
		}
		dst = appendBinary(appendString(dst, c.WillTopic), c.WillPayload)
	}
	if c.UsernameFlag {
		dst = appendString(dst, c.Username)
	}
	if c.PasswordFlag {
		dst = appendBinary(dst, c.Password)
	}
	return dst, nil
}

// Type returns TypeConnack.
func (c *Connack) Type() Type { return TypeConnack }

// Decode fills c from a CONNACK body. For 3.1.1 ReasonCode holds the return
// code (0–5).
func (c *Connack) Decode(fh FixedHeader, body []byte, v Version) error {
	*c = Connack{}
	d, err := startDecode(fh, body, v, TypeConnack, "connack")
	if err != nil {
		return err
	}
	flags := d.u8("acknowledge flags")
	c.SessionPresent = flags&0x01 != 0
	c.ReasonCode = ReasonCode(d.u8("reason code"))
	allowed := &v311ConnackCodes
	if v == V5 {
		c.Properties.decode(&d, &connackProps)
		allowed = &connackCodes
	}
	if d.err != nil {
		return d.err
	}
	switch {
	case flags&0xfe != 0:
		return malformedf("connack: reserved acknowledge flags set")
	case !allowed.has(c.ReasonCode):
		return protocolf("connack: reason code 0x%02x not allowed", byte(c.ReasonCode))
	case c.SessionPresent && c.ReasonCode != Success:
		return protocolf("connack: session present with reason code 0x%02x", byte(c.ReasonCode))
	}
	return d.finish()
}

// code returns the reason code to encode for version v.
func (c *Connack) code(v Version) ReasonCode {
	if v == V5 {
		return c.ReasonCode
	}
	return ConnackReturnCode(c.ReasonCode)
}

func (c *Connack) bodyLen(v Version) (n, props int, err error) {
	if err := checkVersion(TypeConnack, v); err != nil {
		return 0, 0, err
	}
	if v == V5 && !connackCodes.has(c.ReasonCode) {
		return 0, 0, encodeErrorf("connack: reason code 0x%02x not allowed", byte(c.ReasonCode))
	}
	if c.SessionPresent && c.ReasonCode != Success {
		return 0, 0, encodeErrorf("connack: session present with reason code 0x%02x", byte(c.ReasonCode))
	}
	if v != V5 {
		return 2, 0, nil
	}
	if props, err = c.Properties.encodedLen(&connackProps); err != nil {
		return 0, 0, err
	}
	n = 2 + VarIntLen(props) + props
	return n, props, checkRemaining(TypeConnack, n)
}

// AppendTo appends the encoded CONNACK to dst. For 3.1.1 a v5 reason code is
// mapped to a return code with ConnackReturnCode and properties are left
// out.
func (c *Connack) AppendTo(dst []byte, v Version) ([]byte, error) {
	n, props, err := c.bodyLen(v)
	if err != nil {
		return dst, err
	}
	dst = append(appendHeader(dst, byte(TypeConnack)<<4, n), boolByte(c.SessionPresent), byte(c.code(v)))
	if v == V5 {
		dst = c.Properties.appendTo(dst, props)
	}
	return dst, nil
}
