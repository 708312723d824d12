package packet

// Type returns TypePingreq.
func (*Pingreq) Type() Type { return TypePingreq }

// Decode checks a PINGREQ: no flags, empty body.
func (*Pingreq) Decode(fh FixedHeader, body []byte, v Version) error {
	return decodeEmpty(fh, body, v, TypePingreq)
}

// AppendTo appends the two bytes of a PINGREQ.
func (*Pingreq) AppendTo(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(TypePingreq, v); err != nil {
		return dst, err
	}
	return append(dst, byte(TypePingreq)<<4, 0), nil
}

// Type returns TypePingresp.
func (*Pingresp) Type() Type { return TypePingresp }

// Decode checks a PINGRESP: no flags, empty body.
func (*Pingresp) Decode(fh FixedHeader, body []byte, v Version) error {
	return decodeEmpty(fh, body, v, TypePingresp)
}

// AppendTo appends the two bytes of a PINGRESP.
func (*Pingresp) AppendTo(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(TypePingresp, v); err != nil {
		return dst, err
	}
	return append(dst, byte(TypePingresp)<<4, 0), nil
}

func decodeEmpty(fh FixedHeader, body []byte, v Version, t Type) error {
	d, err := startDecode(fh, body, v, t, "")
	if err != nil {
		return err
	}
	if d.remaining() != 0 {
		return malformedf("%s: remaining length %d, want 0", t, d.remaining())
	}
	return nil
}

// Type returns TypeDisconnect.
func (*Disconnect) Type() Type { return TypeDisconnect }

// Decode fills p from a DISCONNECT body. A 3.1.1 DISCONNECT is empty; in v5
// a missing reason code means normal disconnection (Success).
func (p *Disconnect) Decode(fh FixedHeader, body []byte, v Version) error {
	*p = Disconnect{}
	if v != V5 {
		return decodeEmpty(fh, body, v, TypeDisconnect)
	}
	d, err := startDecode(fh, body, v, TypeDisconnect, "disconnect")
	if err != nil {
		return err
	}
	p.ReasonCode = d.optionalReason(&disconnectCodes, &p.Properties, &disconnectProps)
	return d.finish()
}

// optionalReason reads the optional reason code and properties that make up
// the body of a v5 DISCONNECT or AUTH.
func (d *decoder) optionalReason(allowed *codeSet, p *Properties, set *propSet) ReasonCode {
	if d.remaining() == 0 {
		return Success
	}
	rc := ReasonCode(d.u8("reason code"))
	if !allowed.has(rc) {
		d.fail(protocolf("%s: reason code 0x%02x not allowed", d.pkt, byte(rc)))
		return rc
	}
	if d.remaining() > 0 {
		p.decode(d, set)
	}
	return rc
}

// AppendTo appends the encoded DISCONNECT to dst. For 3.1.1 the reason code
// and properties are left out; in v5 they are left out when Success and
// empty.
func (p *Disconnect) AppendTo(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(TypeDisconnect, v); err != nil {
		return dst, err
	}
	if v != V5 {
		return append(dst, byte(TypeDisconnect)<<4, 0), nil
	}
	return appendOptionalReason(dst, TypeDisconnect, p.ReasonCode, &disconnectCodes, &p.Properties, &disconnectProps)
}

func appendOptionalReason(dst []byte, t Type, rc ReasonCode, allowed *codeSet, p *Properties, set *propSet) ([]byte, error) {
	if !allowed.has(rc) {
		return dst, encodeErrorf("%s: reason code 0x%02x not allowed", set.name, byte(rc))
	}
	props, err := p.encodedLen(set)
	if err != nil {
		return dst, err
	}
	n := reasonBodyLen(0, rc, props)
	if err := checkRemaining(t, n); err != nil {
		return dst, err
	}
	return appendReason(appendHeader(dst, byte(t)<<4, n), 0, n, rc, p, props), nil
}

// Type returns TypeAuth.
func (*Auth) Type() Type { return TypeAuth }

// Decode fills p from an AUTH body (v5 only: for 3.1.1 type 15 is reserved
// and the packet is malformed).
func (p *Auth) Decode(fh FixedHeader, body []byte, v Version) error {
	*p = Auth{}
	if v != V5 {
		if err := checkVersion(TypeAuth, v); err != nil {
			return err
		}
		return errAuthNotAllowed
	}
	d, err := startDecode(fh, body, v, TypeAuth, "auth")
	if err != nil {
		return err
	}
	p.ReasonCode = d.optionalReason(&authCodes, &p.Properties, &authProps)
	return d.finish()
}

// AppendTo appends the encoded AUTH to dst; it fails for 3.1.1.
func (p *Auth) AppendTo(dst []byte, v Version) ([]byte, error) {
	if v != V5 {
		return dst, encodeErrorf("auth: AUTH is not a %s packet", v)
	}
	return appendOptionalReason(dst, TypeAuth, p.ReasonCode, &authCodes, &p.Properties, &authProps)
}
