package packet

// ParseFixedHeader splits the first byte of a packet into type and flags and
// checks the flag bits the specification reserves: PUBREL, SUBSCRIBE and
// UNSUBSCRIBE need 0b0010, PUBLISH may not carry QoS 3, every other type
// needs 0. Type 0 and a remaining length outside 0..MaxRemainingLength are
// refused. Whether AUTH is allowed depends on the version and is checked when
// the body is decoded. Errors are *Error with MalformedPacket.
func ParseFixedHeader(first byte, remaining int) (FixedHeader, error) {
	fh := FixedHeader{Type: Type(first >> 4), Flags: first & 0x0f, RemainingLength: remaining}
	if err := fh.check(); err != nil {
		return FixedHeader{}, err
	}
	return fh, nil
}

// check validates the fixed header; it returns a nil error interface when
// the header is valid.
func (fh FixedHeader) check() error {
	if fh.RemainingLength < 0 || fh.RemainingLength > MaxRemainingLength {
		return malformedf("fixed header: remaining length %d out of range", fh.RemainingLength)
	}
	if fh.Type == TypeReserved || fh.Type > TypeAuth {
		return malformedf("fixed header: reserved packet type %d", byte(fh.Type))
	}
	if fh.Flags > 0x0f {
		return malformedf("fixed header: %s: flags 0x%02x out of range", fh.Type, fh.Flags)
	}
	if fh.Type == TypePublish {
		if fh.Flags&0x06 == 0x06 {
			return malformedf("fixed header: publish: QoS 3")
		}
		return nil
	}
	if fh.Flags != fixedFlags(fh.Type) {
		return malformedf("fixed header: %s: reserved flags 0x%x, want 0x%x", fh.Type, fh.Flags, fixedFlags(fh.Type))
	}
	return nil
}

// fixedFlags returns the mandatory flag bits of every type but PUBLISH.
func fixedFlags(t Type) byte {
	switch t {
	case TypePubrel, TypeSubscribe, TypeUnsubscribe:
		return 0x02
	}
	return 0
}

// checkHeader verifies that fh is a valid header of type t for a body of
// length n.
func checkHeader(fh FixedHeader, t Type, n int) error {
	if fh.Type != t {
		return malformedf("%s: fixed header has type %s", t, fh.Type)
	}
	if fh.RemainingLength != n {
		return malformedf("%s: remaining length %d but body of %d bytes", t, fh.RemainingLength, n)
	}
	return fh.check()
}

// appendHeader appends the fixed header of a packet with the given first
// byte and remaining length.
func appendHeader(dst []byte, first byte, remaining int) []byte {
	return AppendVarInt(append(dst, first), remaining)
}

// checkRemaining refuses a body too large for the remaining-length field.
func checkRemaining(t Type, n int) error {
	if n > MaxRemainingLength {
		return tooLargef("encode %s: remaining length %d over %d", t, n, MaxRemainingLength)
	}
	return nil
}

// checkVersion refuses an unknown protocol version.
func checkVersion(t Type, v Version) error {
	switch v {
	case V31, V311, V5:
		return nil
	}
	return protocolf("%s: unknown protocol version %d", t, byte(v))
}
