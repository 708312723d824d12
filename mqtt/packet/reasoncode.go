package packet

import (
	"errors"
	"fmt"
)

// ReasonCode is an MQTT 5.0 reason code (and, in CONNACK/SUBACK of 3.1.1,
// the return code, see the V311 constants).
type ReasonCode byte

// MQTT 5.0 reason codes (section 2.4 of the specification).
const (
	Success                             ReasonCode = 0x00 // also Normal disconnection, Granted QoS 0
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWill                  ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUsernameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

// MQTT 3.1.1 CONNACK return codes and the SUBACK failure code.
const (
	V311Accepted                    ReasonCode = 0x00
	V311UnacceptableProtocolVersion ReasonCode = 0x01
	V311IdentifierRejected          ReasonCode = 0x02
	V311ServerUnavailable           ReasonCode = 0x03
	V311BadUsernameOrPassword       ReasonCode = 0x04
	V311NotAuthorized               ReasonCode = 0x05
	V311SubackFailure               ReasonCode = 0x80
)

// Sentinel errors wrapped by *Error; compare with errors.Is.
var (
	// ErrMalformed is wrapped by every decode error caused by bytes that do
	// not form a valid packet.
	ErrMalformed = errors.New("packet: malformed packet")
	// ErrProtocol is wrapped by errors for well-formed packets that break a
	// protocol rule.
	ErrProtocol = errors.New("packet: protocol error")
	// ErrTooLarge is returned when a packet exceeds the allowed size.
	ErrTooLarge = errors.New("packet: packet too large")
)

// Error is a codec error with the v5 reason code a server should send when
// closing the connection because of it.
type Error struct {
	Code ReasonCode
	Err  error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Code.String()
	}
	return fmt.Sprintf("%v (%s)", e.Err, e.Code)
}

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the reason code carried by err when it is (or wraps) an
// *Error, and UnspecifiedError otherwise.
func CodeOf(err error) ReasonCode {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return UnspecifiedError
}

// IsError reports whether the code is an error (0x80 and above).
func (r ReasonCode) IsError() bool { return r >= 0x80 }
