package packet

import (
	"strings"

	"github.com/iothub-dev/iothub/mqtt/topic"
)

// Type returns TypeSubscribe.
func (s *Subscribe) Type() Type { return TypeSubscribe }

// Decode fills s from a SUBSCRIBE body. Filters alias body.
func (s *Subscribe) Decode(fh FixedHeader, body []byte, v Version) error {
	*s = Subscribe{}
	d, err := startDecode(fh, body, v, TypeSubscribe, "subscribe")
	if err != nil {
		return err
	}
	s.PacketID = d.packetID()
	if v == V5 {
		s.Properties.decode(&d, &subscribeProps)
	}
	for d.err == nil && d.remaining() > 0 {
		sub := Subscription{Filter: d.string("topic filter")}
		sub.decodeOptions(&d, d.u8("subscription options"), v)
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	if d.err == nil && len(s.Subscriptions) == 0 {
		return protocolf("subscribe: no topic filter")
	}
	return d.finish()
}

// startDecode checks the fixed header and version and returns a decoder
// over body.
func startDecode(fh FixedHeader, body []byte, v Version, t Type, name string) (decoder, error) {
	if err := checkHeader(fh, t, len(body)); err != nil {
		return decoder{}, err
	}
	if err := checkVersion(t, v); err != nil {
		return decoder{}, err
	}
	return decoder{b: body, pkt: name}, nil
}

// packetID reads a packet identifier that must not be 0.
func (d *decoder) packetID() uint16 {
	id := d.u16("packet identifier")
	if id == 0 && d.err == nil {
		d.fail(protocolf("%s: packet identifier 0", d.pkt))
	}
	return id
}

// decodeOptions validates the filter and fills the options from byte o.
func (sub *Subscription) decodeOptions(d *decoder, o byte, v Version) {
	if d.err != nil {
		return
	}
	if err := topic.ValidateFilter(sub.Filter); err != nil {
		d.fail(wrapMalformed("subscribe: topic filter", err))
		return
	}
	reserved := byte(0xfc)
	if v == V5 {
		reserved = 0xc0
	}
	sub.QoS = o & 0x03
	sub.NoLocal, sub.RetainAsPublished, sub.RetainHandling = o&0x04 != 0, o&0x08 != 0, (o>>4)&0x03
	switch {
	case o&reserved != 0:
		d.fail(malformedf("subscribe: %q: reserved option bits set (0x%02x)", sub.Filter, o))
	case sub.QoS == 3:
		d.fail(malformedf("subscribe: %q: QoS 3", sub.Filter))
	case sub.RetainHandling == 3:
		d.fail(malformedf("subscribe: %q: retain handling 3", sub.Filter))
	case sub.NoLocal && strings.HasPrefix(sub.Filter, topic.SharePrefix):
		d.fail(protocolf("subscribe: %q: no local on a shared subscription", sub.Filter))
	}
}

// options returns the encoded options byte for version v (v5-only options
// are left out for 3.1.1).
func (sub *Subscription) options(v Version) byte {
	o := sub.QoS
	if v == V5 {
		o |= sub.RetainHandling<<4 | boolByte(sub.RetainAsPublished)<<3 | boolByte(sub.NoLocal)<<2
	}
	return o
}

// check validates one subscription for encoding and returns its size.
func (sub *Subscription) check(v Version) (int, error) {
	n, err := strLen(sub.Filter, "subscribe: topic filter")
	if err != nil {
		return 0, err
	}
	if err := topic.ValidateFilter(sub.Filter); err != nil {
		return 0, wrapMalformed("encode subscribe: topic filter", err)
	}
	if sub.QoS > 2 || (v == V5 && sub.RetainHandling > 2) {
		return 0, encodeErrorf("subscribe: %q: QoS %d, retain handling %d", sub.Filter, sub.QoS, sub.RetainHandling)
	}
	if v == V5 && sub.NoLocal && strings.HasPrefix(sub.Filter, topic.SharePrefix) {
		return 0, encodeErrorf("subscribe: %q: no local on a shared subscription", sub.Filter)
	}
	return n + 1, nil
}

func (s *Subscribe) bodyLen(v Version) (n, props int, err error) {
	if err := checkVersion(TypeSubscribe, v); err != nil {
		return 0, 0, err
	}
	if s.PacketID == 0 || len(s.Subscriptions) == 0 {
		return 0, 0, encodeErrorf("subscribe: packet identifier 0 or no topic filter")
	}
	n = 2
	if v == V5 {
		if props, err = s.Properties.encodedLen(&subscribeProps); err != nil {
			return 0, 0, err
		}
		n += VarIntLen(props) + props
	}
	for i := range s.Subscriptions {
		m, err := s.Subscriptions[i].check(v)
		if err != nil {
			return 0, 0, err
		}
		n += m
	}
	return n, props, checkRemaining(TypeSubscribe, n)
}

// AppendTo appends the encoded SUBSCRIBE to dst.
func (s *Subscribe) AppendTo(dst []byte, v Version) ([]byte, error) {
	n, props, err := s.bodyLen(v)
	if err != nil {
		return dst, err
	}
	dst = appendUint16(appendHeader(dst, byte(TypeSubscribe)<<4|0x02, n), s.PacketID)
	if v == V5 {
		dst = s.Properties.appendTo(dst, props)
	}
	for i := range s.Subscriptions {
		dst = append(appendString(dst, s.Subscriptions[i].Filter), s.Subscriptions[i].options(v))
	}
	return dst, nil
}

// Type returns TypeUnsubscribe.
func (u *Unsubscribe) Type() Type { return TypeUnsubscribe }

// Decode fills u from an UNSUBSCRIBE body. Filters alias body.
func (u *Unsubscribe) Decode(fh FixedHeader, body []byte, v Version) error {
	*u = Unsubscribe{}
	d, err := startDecode(fh, body, v, TypeUnsubscribe, "unsubscribe")
	if err != nil {
		return err
	}
	u.PacketID = d.packetID()
	if v == V5 {
		u.Properties.decode(&d, &unsubscribeProps)
	}
	for d.err == nil && d.remaining() > 0 {
		f := d.string("topic filter")
		if err := topic.ValidateFilter(f); err != nil && d.err == nil {
			d.fail(wrapMalformed("unsubscribe: topic filter", err))
		}
		u.Filters = append(u.Filters, f)
	}
	if d.err == nil && len(u.Filters) == 0 {
		return protocolf("unsubscribe: no topic filter")
	}
	return d.finish()
}

func (u *Unsubscribe) bodyLen(v Version) (n, props int, err error) {
	if err := checkVersion(TypeUnsubscribe, v); err != nil {
		return 0, 0, err
	}
	if u.PacketID == 0 || len(u.Filters) == 0 {
		return 0, 0, encodeErrorf("unsubscribe: packet identifier 0 or no topic filter")
	}
	n = 2
	if v == V5 {
		if props, err = u.Properties.encodedLen(&unsubscribeProps); err != nil {
			return 0, 0, err
		}
		n += VarIntLen(props) + props
	}
	for _, f := range u.Filters {
		m, err := strLen(f, "unsubscribe: topic filter")
		if err == nil {
			if ferr := topic.ValidateFilter(f); ferr != nil {
				err = wrapMalformed("encode unsubscribe: topic filter", ferr)
			}
		}
		if err != nil {
			return 0, 0, err
		}
		n += m
	}
	return n, props, checkRemaining(TypeUnsubscribe, n)
}

// AppendTo appends the encoded UNSUBSCRIBE to dst.
func (u *Unsubscribe) AppendTo(dst []byte, v Version) ([]byte, error) {
	n, props, err := u.bodyLen(v)
	if err != nil {
		return dst, err
	}
	dst = appendUint16(appendHeader(dst, byte(TypeUnsubscribe)<<4|0x02, n), u.PacketID)
	if v == V5 {
		dst = u.Properties.appendTo(dst, props)
	}
	for _, f := range u.Filters {
		dst = appendString(dst, f)
	}
	return dst, nil
}
