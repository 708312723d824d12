package packet

import "fmt"

// PropertyID identifies an MQTT 5.0 property.
type PropertyID byte

// The MQTT 5.0 property identifiers (section 2.2.2.2 of the specification).
const (
	PropPayloadFormat        PropertyID = 0x01
	PropMessageExpiry        PropertyID = 0x02
	PropContentType          PropertyID = 0x03
	PropResponseTopic        PropertyID = 0x08
	PropCorrelationData      PropertyID = 0x09
	PropSubscriptionID       PropertyID = 0x0B
	PropSessionExpiry        PropertyID = 0x11
	PropAssignedClientID     PropertyID = 0x12
	PropServerKeepAlive      PropertyID = 0x13
	PropAuthMethod           PropertyID = 0x15
	PropAuthData             PropertyID = 0x16
	PropRequestProblemInfo   PropertyID = 0x17
	PropWillDelay            PropertyID = 0x18
	PropRequestResponseInfo  PropertyID = 0x19
	PropResponseInfo         PropertyID = 0x1A
	PropServerReference      PropertyID = 0x1C
	PropReasonString         PropertyID = 0x1F
	PropReceiveMaximum       PropertyID = 0x21
	PropTopicAliasMaximum    PropertyID = 0x22
	PropTopicAlias           PropertyID = 0x23
	PropMaximumQoS           PropertyID = 0x24
	PropRetainAvailable      PropertyID = 0x25
	PropUser                 PropertyID = 0x26
	PropMaximumPacketSize    PropertyID = 0x27
	PropWildcardSubAvailable PropertyID = 0x28
	PropSubIDAvailable       PropertyID = 0x29
	PropSharedSubAvailable   PropertyID = 0x2A
)

var propNames = [...]string{
	PropPayloadFormat: "payload format indicator", PropMessageExpiry: "message expiry interval",
	PropContentType: "content type", PropResponseTopic: "response topic",
	PropCorrelationData: "correlation data", PropSubscriptionID: "subscription identifier",
	PropSessionExpiry: "session expiry interval", PropAssignedClientID: "assigned client identifier",
	PropServerKeepAlive: "server keep alive", PropAuthMethod: "authentication method",
	PropAuthData: "authentication data", PropRequestProblemInfo: "request problem information",
	PropWillDelay: "will delay interval", PropRequestResponseInfo: "request response information",
	PropResponseInfo: "response information", PropServerReference: "server reference",
	PropReasonString: "reason string", PropReceiveMaximum: "receive maximum",
	PropTopicAliasMaximum: "topic alias maximum", PropTopicAlias: "topic alias",
	PropMaximumQoS: "maximum qos", PropRetainAvailable: "retain available",
	PropUser: "user property", PropMaximumPacketSize: "maximum packet size",
	PropWildcardSubAvailable: "wildcard subscription available",
	PropSubIDAvailable:       "subscription identifier available",
	PropSharedSubAvailable:   "shared subscription available",
}

// String returns the property's name as the specification spells it, in
// lower case.
func (id PropertyID) String() string {
	if int(id) < len(propNames) && propNames[id] != "" {
		return propNames[id]
	}
	return fmt.Sprintf("property(0x%02x)", byte(id))
}

func bit(ids ...PropertyID) uint64 {
	var m uint64
	for _, id := range ids {
		m |= 1 << id
	}
	return m
}

// propSet is the set of properties one packet kind may carry.
type propSet struct {
	name       string
	allowed    uint64
	multiSubID bool // PUBLISH: several subscription identifiers
}

var (
	msgProps = bit(PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic,
		PropCorrelationData, PropUser)
	reasonProps = bit(PropReasonString, PropUser)

	connectProps = propSet{"connect", bit(PropSessionExpiry, PropReceiveMaximum, PropMaximumPacketSize,
		PropTopicAliasMaximum, PropRequestResponseInfo, PropRequestProblemInfo, PropUser,
		PropAuthMethod, PropAuthData), false}
	willProps    = propSet{"will", msgProps | bit(PropWillDelay), false}
	connackProps = propSet{"connack", bit(PropSessionExpiry, PropAssignedClientID, PropServerKeepAlive,
		PropAuthMethod, PropAuthData, PropResponseInfo, PropServerReference, PropReasonString,
		PropReceiveMaximum, PropTopicAliasMaximum, PropMaximumQoS, PropRetainAvailable, PropUser,
		PropMaximumPacketSize, PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable), false}
	publishProps     = propSet{"publish", msgProps | bit(PropTopicAlias, PropSubscriptionID), true}
	ackProps         = propSet{"ack", reasonProps, false}
	subscribeProps   = propSet{"subscribe", bit(PropSubscriptionID, PropUser), false}
	subackProps      = propSet{"suback", reasonProps, false}
	unsubscribeProps = propSet{"unsubscribe", bit(PropUser), false}
	unsubackProps    = propSet{"unsuback", reasonProps, false}
	disconnectProps  = propSet{"disconnect", bit(PropSessionExpiry, PropServerReference, PropReasonString,
		PropUser), false}
	authProps = propSet{"auth", bit(PropAuthMethod, PropAuthData, PropReasonString, PropUser), false}
)

func propSetOf(t Type) *propSet {
	switch t {
	case TypeConnect:
		return &connectProps
	case TypeConnack:
		return &connackProps
	case TypePublish:
		return &publishProps
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
		return &ackProps
	case TypeSubscribe:
		return &subscribeProps
	case TypeSuback:
		return &subackProps
	case TypeUnsubscribe:
		return &unsubscribeProps
	case TypeUnsuback:
		return &unsubackProps
	case TypeDisconnect:
		return &disconnectProps
	case TypeAuth:
		return &authProps
	}
	return nil
}

// Allowed reports whether a packet of type t may carry property id (the
// table of section 2.2.2.2 of MQTT 5.0). For the will properties of CONNECT
// see AllowedInWill.
func Allowed(t Type, id PropertyID) bool {
	s := propSetOf(t)
	return s != nil && id < 64 && s.allowed&(1<<id) != 0
}

// AllowedInWill reports whether the will properties of a CONNECT may carry
// property id.
func AllowedInWill(id PropertyID) bool { return id < 64 && willProps.allowed&(1<<id) != 0 }

// decode reads a property block (length and properties) into p, which must
// be zero. Strings and slices alias the decoder's body.
func (p *Properties) decode(d *decoder, set *propSet) {
	n := d.varInt("properties length")
	if !d.need(n, "properties") {
		return
	}
	sub := decoder{b: d.b[d.off : d.off+n], pkt: d.pkt}
	if set == &willProps {
		sub.pkt = "connect: will properties"
	}
	d.off += n
	var seen uint64
	for sub.err == nil && sub.off < len(sub.b) {
		id := sub.varInt("property identifier")
		if sub.err != nil {
			break
		}
		seen = p.decodeOne(&sub, PropertyID(min(id, 0xff)), set, seen)
	}
	if sub.err == nil && seen&bit(PropAuthData) != 0 && seen&bit(PropAuthMethod) == 0 {
		sub.fail(protocolf("%s: authentication data without authentication method", d.pkt))
	}
	if sub.err != nil {
		d.fail(sub.err)
	}
}

// decodeOne decodes the value of property id and returns the updated set of
// seen properties.
func (p *Properties) decodeOne(d *decoder, id PropertyID, set *propSet, seen uint64) uint64 {
	if id >= 64 || int(id) >= len(propNames) || propNames[id] == "" {
		d.fail(malformedf("%s: unknown property 0x%02x", d.pkt, byte(id)))
		return seen
	}
	m := uint64(1) << id
	if set.allowed&m == 0 {
		// Section 2.2.2.2: an identifier not valid for the packet type
		// makes a Malformed Packet.
		d.fail(malformedf("%s: property %s not allowed in %s", d.pkt, id, set.name))
		return seen
	}
	if seen&m != 0 && id != PropUser && (id != PropSubscriptionID || !set.multiSubID) {
		d.fail(protocolf("%s: duplicate property %s", d.pkt, id))
		return seen
	}
	if !p.decodeMessageProp(d, id) && !p.decodeSessionProp(d, id) && !p.decodeServerProp(d, id) {
		d.fail(malformedf("%s: unknown property 0x%02x", d.pkt, byte(id))) // unreachable
	}
	return seen | m
}

// flag reads a byte property that must be 0 or 1.
func (d *decoder) flag(id PropertyID) byte {
	v := d.u8(propNames[id])
	if v > 1 {
		d.fail(protocolf("%s: %s: value %d, want 0 or 1", d.pkt, id, v))
	}
	return v
}

// nonZero16 reads a two-byte property that must not be 0.
func (d *decoder) nonZero16(id PropertyID) uint16 {
	v := d.u16(propNames[id])
	if v == 0 && d.err == nil {
		d.fail(protocolf("%s: %s: value 0", d.pkt, id))
	}
	return v
}

func (p *Properties) decodeMessageProp(d *decoder, id PropertyID) bool {
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat = d.flag(id)
	case PropMessageExpiry:
		p.MessageExpiry, p.HasMessageExpiry = d.u32(propNames[id]), true
	case PropContentType:
		p.ContentType = d.string(propNames[id])
	case PropResponseTopic:
		p.ResponseTopic = d.string(propNames[id])
		if err := checkTopicName(p.ResponseTopic); err != nil && d.err == nil {
			d.fail(&Error{Code: ProtocolError, Err: fmt.Errorf("%s: response topic: %w: %w", d.pkt, err, ErrProtocol)})
		}
	case PropCorrelationData:
		p.CorrelationData = d.binary(propNames[id])
	case PropSubscriptionID:
		v := d.varInt(propNames[id])
		if v == 0 && d.err == nil {
			d.fail(protocolf("%s: subscription identifier 0", d.pkt))
		}
		p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
	case PropTopicAlias:
		p.TopicAlias = d.nonZero16(id)
	case PropWillDelay:
		p.WillDelay = d.u32(propNames[id])
	case PropUser:
		k := d.string("user property name")
		v := d.string("user property value")
		if d.err == nil {
			p.User = append(p.User, UserProperty{Key: k, Value: v})
		}
	default:
		return false
	}
	return true
}

func (p *Properties) decodeSessionProp(d *decoder, id PropertyID) bool {
	switch id {
	case PropSessionExpiry:
		p.SessionExpiry, p.HasSessionExpiry = d.u32(propNames[id]), true
	case PropAuthMethod:
		p.AuthMethod = d.string(propNames[id])
	case PropAuthData:
		p.AuthData = d.binary(propNames[id])
	case PropRequestProblemInfo:
		p.RequestProblemInfo, p.HasRequestProblemInfo = d.flag(id), true
	case PropRequestResponseInfo:
		p.RequestResponseInfo = d.flag(id)
	case PropReasonString:
		p.ReasonString = d.string(propNames[id])
	case PropReceiveMaximum:
		p.ReceiveMaximum = d.nonZero16(id)
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum = d.u16(propNames[id])
	case PropMaximumPacketSize:
		p.MaximumPacketSize = d.u32(propNames[id])
		if p.MaximumPacketSize == 0 && d.err == nil {
			d.fail(protocolf("%s: maximum packet size 0", d.pkt))
		}
	default:
		return false
	}
	return true
}

func (p *Properties) decodeServerProp(d *decoder, id PropertyID) bool {
	switch id {
	case PropAssignedClientID:
		p.AssignedClientID = d.string(propNames[id])
	case PropServerKeepAlive:
		p.ServerKeepAlive, p.HasServerKeepAlive = d.u16(propNames[id]), true
	case PropResponseInfo:
		p.ResponseInfo = d.string(propNames[id])
	case PropServerReference:
		p.ServerReference = d.string(propNames[id])
	case PropMaximumQoS:
		p.MaximumQoS, p.HasMaximumQoS = d.flag(id), true
	case PropRetainAvailable:
		p.RetainAvailable, p.HasRetainAvailable = d.flag(id), true
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable, p.HasWildcardSubAvailable = d.flag(id), true
	case PropSubIDAvailable:
		p.SubIDAvailable, p.HasSubIDAvailable = d.flag(id), true
	case PropSharedSubAvailable:
		p.SharedSubAvailable, p.HasSharedSubAvailable = d.flag(id), true
	default:
		return false
	}
	return true
}
