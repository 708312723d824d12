package packet

// Type returns TypeSuback.
func (s *Suback) Type() Type { return TypeSuback }

// Decode fills s from a SUBACK body.
func (s *Suback) Decode(fh FixedHeader, body []byte, v Version) error {
	*s = Suback{}
	d, err := startDecode(fh, body, v, TypeSuback, "suback")
	if err != nil {
		return err
	}
	s.PacketID = d.packetID()
	allowed := &v311SubackCodes
	if v == V5 {
		s.Properties.decode(&d, &subackProps)
		allowed = &subackCodes
	}
	s.ReasonCodes = d.reasonCodes(allowed)
	return d.finish()
}

// reasonCodes reads the list of reason codes that ends a SUBACK or an
// UNSUBACK: at least one, each in allowed.
func (d *decoder) reasonCodes(allowed *codeSet) []ReasonCode {
	if d.err != nil {
		return nil
	}
	if d.remaining() == 0 {
		d.fail(protocolf("%s: no reason code", d.pkt))
		return nil
	}
	rcs := make([]ReasonCode, d.remaining())
	for i := range rcs {
		rcs[i] = ReasonCode(d.u8("reason code"))
		if !allowed.has(rcs[i]) {
			d.fail(protocolf("%s: reason code 0x%02x not allowed", d.pkt, byte(rcs[i])))
			return nil
		}
	}
	return rcs
}

func (s *Suback) bodyLen(v Version) (n, props int, err error) {
	if err := checkVersion(TypeSuback, v); err != nil {
		return 0, 0, err
	}
	if s.PacketID == 0 || len(s.ReasonCodes) == 0 {
		return 0, 0, encodeErrorf("suback: packet identifier 0 or no reason code")
	}
	n = 2 + len(s.ReasonCodes)
	for _, rc := range s.ReasonCodes {
		ok := subackCodes.has(rc)
		if v != V5 {
			ok = v311SubackCodes.has(SubackReturnCode(rc))
		}
		if !ok {
			return 0, 0, encodeErrorf("suback: reason code 0x%02x not allowed", byte(rc))
		}
	}
	if v == V5 {
		if props, err = s.Properties.encodedLen(&subackProps); err != nil {
			return 0, 0, err
		}
		n += VarIntLen(props) + props
	}
	return n, props, checkRemaining(TypeSuback, n)
}

// AppendTo appends the encoded SUBACK to dst. For 3.1.1 every error code is
// written as 0x80 (see SubackReturnCode).
func (s *Suback) AppendTo(dst []byte, v Version) ([]byte, error) {
	n, props, err := s.bodyLen(v)
	if err != nil {
		return dst, err
	}
	dst = appendUint16(appendHeader(dst, byte(TypeSuback)<<4, n), s.PacketID)
	if v == V5 {
		dst = s.Properties.appendTo(dst, props)
	}
	for _, rc := range s.ReasonCodes {
		if v != V5 {
			rc = SubackReturnCode(rc)
		}
		dst = append(dst, byte(rc))
	}
	return dst, nil
}

// Type returns TypeUnsuback.
func (u *Unsuback) Type() Type { return TypeUnsuback }

// Decode fills u from an UNSUBACK body. A 3.1.1 UNSUBACK has no reason
// codes and decodes with ReasonCodes nil.
func (u *Unsuback) Decode(fh FixedHeader, body []byte, v Version) error {
	*u = Unsuback{}
	d, err := startDecode(fh, body, v, TypeUnsuback, "unsuback")
	if err != nil {
		return err
	}
	u.PacketID = d.packetID()
	if v == V5 {
		u.Properties.decode(&d, &unsubackProps)
		u.ReasonCodes = d.reasonCodes(&unsubackCodes)
	}
	return d.finish()
}

func (u *Unsuback) bodyLen(v Version) (n, props int, err error) {
	if err := checkVersion(TypeUnsuback, v); err != nil {
		return 0, 0, err
	}
	if u.PacketID == 0 {
		return 0, 0, encodeErrorf("unsuback: packet identifier 0")
	}
	if v != V5 {
		return 2, 0, nil
	}
	if len(u.ReasonCodes) == 0 {
		return 0, 0, encodeErrorf("unsuback: no reason code")
	}
	for _, rc := range u.ReasonCodes {
		if !unsubackCodes.has(rc) {
			return 0, 0, encodeErrorf("unsuback: reason code 0x%02x not allowed", byte(rc))
		}
	}
	if props, err = u.Properties.encodedLen(&unsubackProps); err != nil {
		return 0, 0, err
	}
	n = 2 + VarIntLen(props) + props + len(u.ReasonCodes)
	return n, props, checkRemaining(TypeUnsuback, n)
}

// AppendTo appends the encoded UNSUBACK to dst. For 3.1.1 the reason codes
// and properties are left out.
func (u *Unsuback) AppendTo(dst []byte, v Version) ([]byte, error) {
	n, props, err := u.bodyLen(v)
	if err != nil {
		return dst, err
	}
	dst = appendUint16(appendHeader(dst, byte(TypeUnsuback)<<4, n), u.PacketID)
	if v == V5 {
		dst = u.Properties.appendTo(dst, props)
		for _, rc := range u.ReasonCodes {
			dst = append(dst, byte(rc))
		}
	}
	return dst, nil
}
