package packet

import "fmt"

// Type is the MQTT control packet type, the high nibble of the first byte.
type Type byte

// The control packet types of MQTT 3.1.1 and 5.0.
const (
	TypeReserved    Type = 0
	TypeConnect     Type = 1
	TypeConnack     Type = 2
	TypePublish     Type = 3
	TypePuback      Type = 4
	TypePubrec      Type = 5
	TypePubrel      Type = 6
	TypePubcomp     Type = 7
	TypeSubscribe   Type = 8
	TypeSuback      Type = 9
	TypeUnsubscribe Type = 10
	TypeUnsuback    Type = 11
	TypePingreq     Type = 12
	TypePingresp    Type = 13
	TypeDisconnect  Type = 14
	TypeAuth        Type = 15 // MQTT 5.0 only
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// String returns the packet type's name as the specification spells it.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("TYPE(%d)", byte(t))
}

// Version is the protocol level carried in CONNECT.
type Version byte

// Protocol levels.
const (
	V31  Version = 3 // MQTT 3.1 (protocol name "MQIsdp"); accepted and treated as 3.1.1
	V311 Version = 4 // MQTT 3.1.1
	V5   Version = 5 // MQTT 5.0
)

// String returns "3.1", "3.1.1" or "5.0".
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return fmt.Sprintf("unknown(%d)", byte(v))
}

// Limits of the wire format.
const (
	// MaxRemainingLength is the largest remaining length a four-byte
	// variable byte integer can carry (256 MB).
	MaxRemainingLength = 268_435_455
	// MaxVarInt is the largest variable byte integer value.
	MaxVarInt = MaxRemainingLength
)

// FixedHeader is the first part of every packet: the type, the four flag
// bits and the remaining length.
type FixedHeader struct {
	Type            Type
	Flags           byte // low nibble of the first byte
	RemainingLength int
}

// Packet is implemented by every control packet type of this package.
type Packet interface {
	// Type returns the packet's control packet type.
	Type() Type
	// AppendTo appends the encoded packet (fixed header included) for
	// protocol version v to dst and returns the extended slice. It returns an
	// error, and dst unchanged, when the packet cannot be encoded for v
	// (for example a property too large, or AUTH for 3.1.1).
	AppendTo(dst []byte, v Version) ([]byte, error)
	// Decode fills the packet from its fixed header and body (the
	// remaining-length bytes) for protocol version v. Strings and slices in
	// the result alias body. It returns a *Error on any violation.
	Decode(fh FixedHeader, body []byte, v Version) error
}

// New returns a fresh zero packet of type t, or nil for an invalid type.
func New(t Type) Packet {
	switch t {
	case TypeConnect:
		return &Connect{}
	case TypeConnack:
		return &Connack{}
	case TypePublish:
		return &Publish{}
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
		return &Ack{PacketType: t}
	case TypeSubscribe:
		return &Subscribe{}
	case TypeSuback:
		return &Suback{}
	case TypeUnsubscribe:
		return &Unsubscribe{}
	case TypeUnsuback:
		return &Unsuback{}
	case TypePingreq:
		return &Pingreq{}
	case TypePingresp:
		return &Pingresp{}
	case TypeDisconnect:
		return &Disconnect{}
	case TypeAuth:
		return &Auth{}
	}
	return nil
}
