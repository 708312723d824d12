package packet

// QoS is an MQTT quality-of-service level: 0, 1 or 2.
type QoS = byte

// Connect is the CONNECT packet.
type Connect struct {
	// ProtocolName is "MQTT" (3.1.1, 5.0) or "MQIsdp" (3.1).
	ProtocolName string
	Version      Version
	CleanStart   bool // "clean session" in 3.1.1
	KeepAlive    uint16
	ClientID     string
	Properties   Properties

	WillFlag       bool
	WillQoS        QoS
	WillRetain     bool
	WillTopic      string
	WillPayload    []byte
	WillProperties Properties // v5 only

	UsernameFlag bool
	Username     string
	PasswordFlag bool
	Password     []byte
}

// Connack is the CONNACK packet. ReasonCode holds the v5 reason code; for
// 3.1.1 it holds the return code (0–5), see ConnackReturnCode.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Properties     Properties
}

// Publish is the PUBLISH packet.
type Publish struct {
	Dup        bool
	QoS        QoS
	Retain     bool
	Topic      string // may be empty in v5 when a topic alias is used
	PacketID   uint16 // only for QoS 1 and 2
	Properties Properties
	Payload    []byte
}

// Ack is PUBACK, PUBREC, PUBREL or PUBCOMP: they share one layout.
type Ack struct {
	PacketType Type
	PacketID   uint16
	ReasonCode ReasonCode // v5; Success when absent
	Properties Properties // v5
}

// Subscription is one topic filter of a SUBSCRIBE with its options.
type Subscription struct {
	Filter            string
	QoS               QoS  // maximum QoS
	NoLocal           bool // v5
	RetainAsPublished bool // v5
	RetainHandling    byte // v5: 0, 1 or 2
}

// Subscribe is the SUBSCRIBE packet.
type Subscribe struct {
	PacketID      uint16
	Properties    Properties // v5: SubscriptionIdentifier, UserProperties
	Subscriptions []Subscription
}

// Suback is the SUBACK packet: one reason code per requested filter (3.1.1:
// 0x00, 0x01, 0x02 or 0x80).
type Suback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Unsubscribe is the UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties
	Filters    []string
}

// Unsuback is the UNSUBACK packet. ReasonCodes is v5 only (3.1.1 has none).
type Unsuback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Pingreq is the PINGREQ packet.
type Pingreq struct{}

// Pingresp is the PINGRESP packet.
type Pingresp struct{}

// Disconnect is the DISCONNECT packet. Reason code and properties are v5.
type Disconnect struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Auth is the v5 AUTH packet.
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}

// UserProperty is one v5 user property (a name/value string pair; the same
// name may appear more than once and order is kept).
type UserProperty struct {
	Key   string
	Value string
}

// Properties holds the v5 properties of any packet. A property is encoded
// when its field is non-zero, except the ones with a Has… companion flag,
// which are encoded exactly when that flag is true (zero is meaningful for
// them). Decoding sets the Has… flags for what was present; encoding a
// non-zero value whose Has… flag is false is an error (it would be dropped).
// Binary properties are encoded when non-empty and decode to nil when empty.
// Which properties a packet may carry is checked on both encode and decode
// (see Allowed and AllowedInWill).
type Properties struct {
	PayloadFormat           byte   // 0x01
	MessageExpiry           uint32 // 0x02, with HasMessageExpiry
	HasMessageExpiry        bool
	ContentType             string   // 0x03
	ResponseTopic           string   // 0x08
	CorrelationData         []byte   // 0x09
	SubscriptionIDs         []uint32 // 0x0B; several in PUBLISH, at most one in SUBSCRIBE
	SessionExpiry           uint32   // 0x11, with HasSessionExpiry (absent in DISCONNECT/CONNACK ≠ 0)
	HasSessionExpiry        bool
	AssignedClientID        string // 0x12
	ServerKeepAlive         uint16 // 0x13, with HasServerKeepAlive
	HasServerKeepAlive      bool
	AuthMethod              string // 0x15
	AuthData                []byte // 0x16
	RequestProblemInfo      byte   // 0x17, with HasRequestProblemInfo (default 1)
	HasRequestProblemInfo   bool
	WillDelay               uint32 // 0x18
	RequestResponseInfo     byte   // 0x19
	ResponseInfo            string // 0x1A
	ServerReference         string // 0x1C
	ReasonString            string // 0x1F
	ReceiveMaximum          uint16 // 0x21 (0 is a protocol error, so non-zero means present)
	TopicAliasMaximum       uint16 // 0x22
	TopicAlias              uint16 // 0x23
	MaximumQoS              byte   // 0x24, with HasMaximumQoS
	HasMaximumQoS           bool
	RetainAvailable         byte // 0x25, with HasRetainAvailable (default 1)
	HasRetainAvailable      bool
	User                    []UserProperty // 0x26
	MaximumPacketSize       uint32         // 0x27 (0 is a protocol error)
	WildcardSubAvailable    byte           // 0x28, with HasWildcardSubAvailable (default 1)
	HasWildcardSubAvailable bool
	SubIDAvailable          byte // 0x29, with HasSubIDAvailable (default 1)
	HasSubIDAvailable       bool
	SharedSubAvailable      byte // 0x2A, with HasSharedSubAvailable (default 1)
	HasSharedSubAvailable   bool
}
