package packet

// propSizer accumulates the encoded size of a property block while checking
// each present property against the packet's allowed set.
type propSizer struct {
	set *propSet
	n   int
	err error
}

// add records a present property of encoded value size n (identifier
// excluded).
func (s *propSizer) add(id PropertyID, n int) {
	if s.err != nil {
		return
	}
	if s.set.allowed&(1<<id) == 0 {
		s.err = encodeErrorf("%s: property %s not allowed", s.set.name, id)
		return
	}
	s.n += 1 + n
}

func (s *propSizer) str(id PropertyID, v string) {
	if v == "" || s.err != nil {
		return
	}
	n, err := strLen(v, propNames[id])
	if err != nil {
		s.err = err
		return
	}
	s.add(id, n)
}

func (s *propSizer) bin(id PropertyID, v []byte) {
	if len(v) == 0 || s.err != nil {
		return
	}
	n, err := binLen(v, propNames[id])
	if err != nil {
		s.err = err
		return
	}
	s.add(id, n)
}

// flag sizes a byte property that must be 0 or 1.
func (s *propSizer) flag(id PropertyID, v byte, present bool) {
	if v != 0 && !present && s.err == nil {
		s.err = encodeErrorf("%s: %s is %d but its Has flag is false", s.set.name, id, v)
	}
	if !present || s.err != nil {
		return
	}
	if v > 1 {
		s.err = encodeErrorf("%s: %s: value %d, want 0 or 1", s.set.name, id, v)
		return
	}
	s.add(id, 1)
}

// fixed sizes an integer property of n bytes with a Has companion.
func (s *propSizer) fixed(id PropertyID, nonZero, present bool, n int) {
	if nonZero && !present && s.err == nil {
		s.err = encodeErrorf("%s: %s is set but its Has flag is false", s.set.name, id)
	}
	if present {
		s.add(id, n)
	}
}

// encodedLen validates p for a packet with the given allowed set and
// returns the size of the property block without its length prefix.
func (p *Properties) encodedLen(set *propSet) (int, error) {
	s := propSizer{set: set}
	s.flag(PropPayloadFormat, p.PayloadFormat, p.PayloadFormat != 0)
	s.fixed(PropMessageExpiry, p.MessageExpiry != 0, p.HasMessageExpiry, 4)
	s.str(PropContentType, p.ContentType)
	if p.ResponseTopic != "" && checkTopicName(p.ResponseTopic) != nil && s.err == nil {
		s.err = encodeErrorf("%s: response topic %q is not a valid topic name", set.name, p.ResponseTopic)
	}
	s.str(PropResponseTopic, p.ResponseTopic)
	s.bin(PropCorrelationData, p.CorrelationData)
	p.subIDsLen(&s)
	s.fixed(PropSessionExpiry, p.SessionExpiry != 0, p.HasSessionExpiry, 4)
	s.str(PropAssignedClientID, p.AssignedClientID)
	s.fixed(PropServerKeepAlive, p.ServerKeepAlive != 0, p.HasServerKeepAlive, 2)
	s.str(PropAuthMethod, p.AuthMethod)
	s.bin(PropAuthData, p.AuthData)
	if len(p.AuthData) > 0 && p.AuthMethod == "" && s.err == nil {
		s.err = encodeErrorf("%s: authentication data without authentication method", set.name)
	}
	s.flag(PropRequestProblemInfo, p.RequestProblemInfo, p.HasRequestProblemInfo)
	s.fixed(PropWillDelay, false, p.WillDelay != 0, 4)
	s.flag(PropRequestResponseInfo, p.RequestResponseInfo, p.RequestResponseInfo != 0)
	s.str(PropResponseInfo, p.ResponseInfo)
	s.str(PropServerReference, p.ServerReference)
	s.str(PropReasonString, p.ReasonString)
	s.fixed(PropReceiveMaximum, false, p.ReceiveMaximum != 0, 2)
	s.fixed(PropTopicAliasMaximum, false, p.TopicAliasMaximum != 0, 2)
	s.fixed(PropTopicAlias, false, p.TopicAlias != 0, 2)
	s.flag(PropMaximumQoS, p.MaximumQoS, p.HasMaximumQoS)
	s.flag(PropRetainAvailable, p.RetainAvailable, p.HasRetainAvailable)
	p.userLen(&s)
	s.fixed(PropMaximumPacketSize, false, p.MaximumPacketSize != 0, 4)
	s.flag(PropWildcardSubAvailable, p.WildcardSubAvailable, p.HasWildcardSubAvailable)
	s.flag(PropSubIDAvailable, p.SubIDAvailable, p.HasSubIDAvailable)
	s.flag(PropSharedSubAvailable, p.SharedSubAvailable, p.HasSharedSubAvailable)
	if s.err == nil && s.n > MaxVarInt {
		s.err = tooLargef("encode %s: properties of %d bytes", set.name, s.n)
	}
	return s.n, s.err
}

func (p *Properties) subIDsLen(s *propSizer) {
	if len(p.SubscriptionIDs) > 1 && !s.set.multiSubID && s.err == nil {
		s.err = encodeErrorf("%s: more than one subscription identifier", s.set.name)
	}
	for _, id := range p.SubscriptionIDs {
		if (id == 0 || id > MaxVarInt) && s.err == nil {
			s.err = encodeErrorf("%s: subscription identifier %d out of range", s.set.name, id)
		}
		s.add(PropSubscriptionID, VarIntLen(int(id)))
	}
}

func (p *Properties) userLen(s *propSizer) {
	for _, u := range p.User {
		k, err := strLen(u.Key, "user property name")
		if err == nil {
			var v int
			v, err = strLen(u.Value, "user property value")
			k += v
		}
		if err != nil && s.err == nil {
			s.err = err
		}
		s.add(PropUser, k)
	}
}

// appendTo appends the property block: its length n (from encodedLen) and
// the properties in identifier order.
func (p *Properties) appendTo(dst []byte, n int) []byte {
	dst = AppendVarInt(dst, n)
	if n == 0 {
		return dst
	}
	if p.PayloadFormat != 0 {
		dst = append(dst, byte(PropPayloadFormat), p.PayloadFormat)
	}
	if p.HasMessageExpiry {
		dst = appendUint32(append(dst, byte(PropMessageExpiry)), p.MessageExpiry)
	}
	dst = appendStrProp(dst, PropContentType, p.ContentType)
	dst = appendStrProp(dst, PropResponseTopic, p.ResponseTopic)
	dst = appendBinProp(dst, PropCorrelationData, p.CorrelationData)
	for _, id := range p.SubscriptionIDs {
		dst = AppendVarInt(append(dst, byte(PropSubscriptionID)), int(id))
	}
	if p.HasSessionExpiry {
		dst = appendUint32(append(dst, byte(PropSessionExpiry)), p.SessionExpiry)
	}
	dst = appendStrProp(dst, PropAssignedClientID, p.AssignedClientID)
	if p.HasServerKeepAlive {
		dst = appendUint16(append(dst, byte(PropServerKeepAlive)), p.ServerKeepAlive)
	}
	dst = appendStrProp(dst, PropAuthMethod, p.AuthMethod)
	dst = appendBinProp(dst, PropAuthData, p.AuthData)
	dst = appendFlagProp(dst, PropRequestProblemInfo, p.RequestProblemInfo, p.HasRequestProblemInfo)
	if p.WillDelay != 0 {
		dst = appendUint32(append(dst, byte(PropWillDelay)), p.WillDelay)
	}
	dst = appendFlagProp(dst, PropRequestResponseInfo, p.RequestResponseInfo, p.RequestResponseInfo != 0)
	dst = appendStrProp(dst, PropResponseInfo, p.ResponseInfo)
	dst = appendStrProp(dst, PropServerReference, p.ServerReference)
	dst = appendStrProp(dst, PropReasonString, p.ReasonString)
	return p.appendTail(dst)
}

// appendTail appends the properties from 0x21 on.
func (p *Properties) appendTail(dst []byte) []byte {
	dst = appendU16Prop(dst, PropReceiveMaximum, p.ReceiveMaximum)
	dst = appendU16Prop(dst, PropTopicAliasMaximum, p.TopicAliasMaximum)
	dst = appendU16Prop(dst, PropTopicAlias, p.TopicAlias)
	dst = appendFlagProp(dst, PropMaximumQoS, p.MaximumQoS, p.HasMaximumQoS)
	dst = appendFlagProp(dst, PropRetainAvailable, p.RetainAvailable, p.HasRetainAvailable)
	for _, u := range p.User {
		dst = appendString(appendString(append(dst, byte(PropUser)), u.Key), u.Value)
	}
	if p.MaximumPacketSize != 0 {
		dst = appendUint32(append(dst, byte(PropMaximumPacketSize)), p.MaximumPacketSize)
	}
	dst = appendFlagProp(dst, PropWildcardSubAvailable, p.WildcardSubAvailable, p.HasWildcardSubAvailable)
	dst = appendFlagProp(dst, PropSubIDAvailable, p.SubIDAvailable, p.HasSubIDAvailable)
	return appendFlagProp(dst, PropSharedSubAvailable, p.SharedSubAvailable, p.HasSharedSubAvailable)
}

func appendStrProp(dst []byte, id PropertyID, v string) []byte {
	if v == "" {
		return dst
	}
	return appendString(append(dst, byte(id)), v)
}

func appendBinProp(dst []byte, id PropertyID, v []byte) []byte {
	if len(v) == 0 {
		return dst
	}
	return appendBinary(append(dst, byte(id)), v)
}

func appendFlagProp(dst []byte, id PropertyID, v byte, present bool) []byte {
	if !present {
		return dst
	}
	return append(dst, byte(id), v)
}

func appendU16Prop(dst []byte, id PropertyID, v uint16) []byte {
	if v == 0 {
		return dst
	}
	return appendUint16(append(dst, byte(id)), v)
}
