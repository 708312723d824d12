package packet

import "fmt"

var reasonNames = map[ReasonCode]string{
	Success: "success", GrantedQoS1: "granted QoS 1", GrantedQoS2: "granted QoS 2",
	DisconnectWithWill: "disconnect with will message", NoMatchingSubscribers: "no matching subscribers",
	NoSubscriptionExisted: "no subscription existed", ContinueAuthentication: "continue authentication",
	ReAuthenticate: "re-authenticate", UnspecifiedError: "unspecified error",
	MalformedPacket: "malformed packet", ProtocolError: "protocol error",
	ImplementationSpecificError: "implementation specific error",
	UnsupportedProtocolVersion:  "unsupported protocol version",
	ClientIdentifierNotValid:    "client identifier not valid",
	BadUsernameOrPassword:       "bad user name or password", NotAuthorized: "not authorized",
	ServerUnavailable: "server unavailable", ServerBusy: "server busy", Banned: "banned",
	ServerShuttingDown: "server shutting down", BadAuthenticationMethod: "bad authentication method",
	KeepAliveTimeout: "keep alive timeout", SessionTakenOver: "session taken over",
	TopicFilterInvalid: "topic filter invalid", TopicNameInvalid: "topic name invalid",
	PacketIdentifierInUse: "packet identifier in use", PacketIdentifierNotFound: "packet identifier not found",
	ReceiveMaximumExceeded: "receive maximum exceeded", TopicAliasInvalid: "topic alias invalid",
	PacketTooLarge: "packet too large", MessageRateTooHigh: "message rate too high",
	QuotaExceeded: "quota exceeded", AdministrativeAction: "administrative action",
	PayloadFormatInvalid: "payload format invalid", RetainNotSupported: "retain not supported",
	QoSNotSupported: "QoS not supported", UseAnotherServer: "use another server",
	ServerMoved: "server moved", SharedSubscriptionsNotSupported: "shared subscriptions not supported",
	ConnectionRateExceeded: "connection rate exceeded", MaximumConnectTime: "maximum connect time",
	SubscriptionIdentifiersNotSupported: "subscription identifiers not supported",
	WildcardSubscriptionsNotSupported:   "wildcard subscriptions not supported",
}

// String returns the MQTT 5.0 name of the reason code in lower case, for
// example "malformed packet". Codes shared by several meanings (0x00) get
// the most common name.
func (r ReasonCode) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reason code 0x%02x", byte(r))
}

// codeSet is a set of reason codes, one bit per code.
type codeSet [4]uint64

func codes(rs ...ReasonCode) codeSet {
	var s codeSet
	for _, r := range rs {
		s[r>>6] |= 1 << (r & 63)
	}
	return s
}

func (s *codeSet) has(r ReasonCode) bool { return s[r>>6]&(1<<(r&63)) != 0 }

// The reason codes each v5 packet may carry (section 2.4 and the packet
// sections of MQTT 5.0).
var (
	connackCodes = codes(Success, UnspecifiedError, MalformedPacket, ProtocolError,
		ImplementationSpecificError, UnsupportedProtocolVersion, ClientIdentifierNotValid,
		BadUsernameOrPassword, NotAuthorized, ServerUnavailable, ServerBusy, Banned,
		BadAuthenticationMethod, TopicNameInvalid, PacketTooLarge, QuotaExceeded,
		PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved,
		ConnectionRateExceeded)
	pubackCodes = codes(Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicNameInvalid, PacketIdentifierInUse, QuotaExceeded, PayloadFormatInvalid)
	pubrelCodes = codes(Success, PacketIdentifierNotFound)
	subackCodes = codes(GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse,
		QuotaExceeded, SharedSubscriptionsNotSupported, SubscriptionIdentifiersNotSupported,
		WildcardSubscriptionsNotSupported)
	unsubackCodes = codes(Success, NoSubscriptionExisted, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse)
	disconnectCodes = codes(Success, DisconnectWithWill, UnspecifiedError, MalformedPacket,
		ProtocolError, ImplementationSpecificError, NotAuthorized, ServerBusy, ServerShuttingDown,
		KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid, TopicNameInvalid,
		ReceiveMaximumExceeded, TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh, QuotaExceeded,
		AdministrativeAction, PayloadFormatInvalid, RetainNotSupported, QoSNotSupported,
		UseAnotherServer, ServerMoved, SharedSubscriptionsNotSupported, ConnectionRateExceeded,
		MaximumConnectTime, SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported)
	authCodes         = codes(Success, ContinueAuthentication, ReAuthenticate)
	v311ConnackCodes  = codes(0, 1, 2, 3, 4, 5)
	v311SubackCodes   = codes(GrantedQoS0, GrantedQoS1, GrantedQoS2, V311SubackFailure)
	pubcompCodes      = pubrelCodes
	pubrecCodes       = pubackCodes
	ackCodesByType    = [...]*codeSet{TypePuback: &pubackCodes, TypePubrec: &pubrecCodes, TypePubrel: &pubrelCodes, TypePubcomp: &pubcompCodes}
	errBadAckType     = encodeErrorf("ack: PacketType is not PUBACK, PUBREC, PUBREL or PUBCOMP")
	errAuthNotAllowed = malformedf("auth: AUTH is not a 3.1.1 packet")
)

// GrantedQoS0 is the SUBACK reason code granting QoS 0 (same value as
// Success).
const GrantedQoS0 ReasonCode = 0x00

// ConnackReturnCode maps a v5 CONNACK reason code to the nearest 3.1.1
// return code (0–5). Codes 0–5 are returned unchanged, so the result of a
// 3.1.1 decode passes through. AppendTo applies this mapping when encoding a
// CONNACK for 3.1.1, so a server may use v5 codes for both versions.
func ConnackReturnCode(r ReasonCode) ReasonCode {
	switch {
	case r <= V311NotAuthorized:
		return r
	case r == UnsupportedProtocolVersion:
		return V311UnacceptableProtocolVersion
	case r == ClientIdentifierNotValid:
		return V311IdentifierRejected
	case r == BadUsernameOrPassword:
		return V311BadUsernameOrPassword
	case r == NotAuthorized, r == Banned, r == BadAuthenticationMethod:
		return V311NotAuthorized
	}
	return V311ServerUnavailable
}

// ConnackReasonV5 maps a 3.1.1 CONNACK return code (1–5) to the MQTT 5
// reason code of the same meaning, so that both versions can be named and
// counted alike; any other code is returned unchanged.
func ConnackReasonV5(r ReasonCode) ReasonCode {
	switch r {
	case V311UnacceptableProtocolVersion:
		return UnsupportedProtocolVersion
	case V311IdentifierRejected:
		return ClientIdentifierNotValid
	case V311ServerUnavailable:
		return ServerUnavailable
	case V311BadUsernameOrPassword:
		return BadUsernameOrPassword
	case V311NotAuthorized:
		return NotAuthorized
	}
	return r
}

// SubackReturnCode maps a v5 SUBACK reason code to the 3.1.1 return code:
// granted QoS 0–2 unchanged, any error 0x80. AppendTo applies it when
// encoding a SUBACK for 3.1.1.
func SubackReturnCode(r ReasonCode) ReasonCode {
	if r.IsError() {
		return V311SubackFailure
	}
	return r
}
