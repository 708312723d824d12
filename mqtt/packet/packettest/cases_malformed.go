package packettest

import "github.com/iothub-dev/iothub/mqtt/packet"

const (
	malformed   = packet.MalformedPacket
	protocolErr = packet.ProtocolError
)

var (
	v311, v5 = packet.V311, packet.V5
	// connect311 is the variable header of a valid 3.1.1 CONNECT up to the
	// flags byte, which each case appends.
	connect311 = cat(str("MQTT"), b(4))
	connect5   = cat(str("MQTT"), b(5))
)

// MalformedCases are invalid packets with the reason code their decoding
// must fail with.
var MalformedCases = []Case{
	// Fixed header and remaining length.
	{Name: "header/reserved-type-0", Version: v311, Raw: b(0x00, 0), WantErr: malformed},
	{Name: "header/remaining-length-5-bytes", Version: v311, Raw: b(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), WantErr: malformed},
	{Name: "header/remaining-length-not-minimal", Version: v311, Raw: b(0xC0, 0x80, 0x00), WantErr: malformed},
	{Name: "header/remaining-length-cut", Version: v311, Raw: b(0x30, 0x80), WantErr: malformed},
	{Name: "header/body-cut-short", Version: v311, Raw: b(0x30, 10, 0, 3, 'a'), WantErr: malformed},
	{Name: "header/bytes-after-packet", Version: v311, Raw: b(0xC0, 0, 0), WantErr: malformed},
	{Name: "header/publish-qos3", Version: v311, Raw: pkt(0x36, str("a"), u16(1)), WantErr: malformed},
	{Name: "header/pubrel-flags-0", Version: v311, Raw: b(0x60, 2, 0, 1), WantErr: malformed},
	{Name: "header/subscribe-flags-0", Version: v311, Raw: pkt(0x80, u16(1), str("a"), b(0)), WantErr: malformed},
	{Name: "header/unsubscribe-flags-0", Version: v311, Raw: pkt(0xA0, u16(1), str("a")), WantErr: malformed},
	{Name: "header/connect-flags", Version: v311, Raw: pkt(0x11, connect311, b(2), u16(0), str("c")), WantErr: malformed},
	{Name: "header/puback-flags", Version: v311, Raw: b(0x42, 2, 0, 1), WantErr: malformed},
	{Name: "header/pingreq-flags", Version: v311, Raw: b(0xC1, 0), WantErr: malformed},
	{Name: "header/auth-in-v311", Version: v311, Raw: b(0xF0, 0), WantErr: malformed},
	{Name: "header/v5-reserved-type-0", Version: v5, Raw: b(0x00, 0), WantErr: malformed},
	{Name: "header/v5-remaining-length-5-bytes", Version: v5, Raw: b(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), WantErr: malformed},
	{Name: "header/v5-publish-qos3", Version: v5, Raw: pkt(0x36, str("a"), u16(1), props()), WantErr: malformed},
	{Name: "header/v5-subscribe-flags-0", Version: v5, Raw: pkt(0x80, u16(1), props(), str("a"), b(0)), WantErr: malformed},
	{Name: "header/v5-pingreq-flags", Version: v5, Raw: b(0xC1, 0), WantErr: malformed},

	// CONNECT.
	{Name: "connect/reserved-flag", Version: v311, Raw: pkt(0x10, connect311, b(0x03), u16(0), str("c")), WantErr: malformed},
	{Name: "connect/will-qos3", Version: v311, Raw: pkt(0x10, connect311, b(0x1E), u16(0), str("c"), str("t"), str("p")), WantErr: malformed},
	{Name: "connect/will-retain-without-will", Version: v311, Raw: pkt(0x10, connect311, b(0x22), u16(0), str("c")), WantErr: malformed},
	{Name: "connect/will-qos-without-will", Version: v311, Raw: pkt(0x10, connect311, b(0x0A), u16(0), str("c")), WantErr: malformed},
	{Name: "connect/v311-password-without-username", Version: v311, Raw: pkt(0x10, connect311, b(0x42), u16(0), str("c"), str("pw")), WantErr: malformed},
	{Name: "connect/level-6", Version: v311, Raw: pkt(0x10, str("MQTT"), b(6, 2), u16(0), str("c")), WantErr: packet.UnsupportedProtocolVersion},
	{Name: "connect/bad-protocol-name", Version: v311, Raw: pkt(0x10, str("MQTX"), b(4, 2), u16(0), str("c")), WantErr: packet.UnsupportedProtocolVersion},
	{Name: "connect/mqisdp-level-4", Version: v311, Raw: pkt(0x10, str("MQIsdp"), b(4, 2), u16(0), str("c")), WantErr: packet.UnsupportedProtocolVersion},
	{Name: "connect/client-id-invalid-utf8", Version: v311, Raw: pkt(0x10, connect311, b(2), u16(0), str("c\xff")), WantErr: malformed},
	{Name: "connect/client-id-nul", Version: v311, Raw: pkt(0x10, connect311, b(2), u16(0), str("c\x00d")), WantErr: malformed},
	{Name: "connect/client-id-surrogate", Version: v311, Raw: pkt(0x10, connect311, b(2), u16(0), str("\xed\xa0\x80")), WantErr: malformed},
	{Name: "connect/will-topic-wildcard", Version: v311, Raw: pkt(0x10, connect311, b(0x06), u16(0), str("c"), str("a/#"), str("p")), WantErr: malformed},
	{Name: "connect/will-topic-empty", Version: v311, Raw: pkt(0x10, connect311, b(0x06), u16(0), str("c"), str(""), str("p")), WantErr: malformed},
	{Name: "connect/username-cut", Version: v311, Raw: pkt(0x10, connect311, b(0x82), u16(0), str("c"), u16(5), []byte("ab")), WantErr: malformed},
	{Name: "connect/trailing-bytes", Version: v311, Raw: pkt(0x10, connect311, b(2), u16(0), str("c"), b(0)), WantErr: malformed},
	{Name: "connect/v5-duplicate-session-expiry", Version: v5, Raw: pkt(0x10, connect5, b(2), u16(0), props(prop(packet.PropSessionExpiry, u32(1)), prop(packet.PropSessionExpiry, u32(2))), str("c")), WantErr: protocolErr},
	{Name: "connect/v5-receive-maximum-0", Version: v5, Raw: pkt(0x10, connect5, b(2), u16(0), props(prop(packet.PropReceiveMaximum, u16(0))), str("c")), WantErr: protocolErr},
	{Name: "connect/v5-maximum-packet-size-0", Version: v5, Raw: pkt(0x10, connect5, b(2), u16(0), props(prop(packet.PropMaximumPacketSize, u32(0))), str("c")), WantErr: protocolErr},
	{Name: "connect/v5-request-problem-info-2", Version: v5, Raw: pkt(0x10, connect5, b(2), u16(0), props(prop(packet.PropRequestProblemInfo, b(2))), str("c")), WantErr: protocolErr},
	{Name: "connect/v5-request-response-info-2", Version: v5, Raw: pkt(0x10, connect5, b(2), u16(0), props(prop(packet.PropRequestResponseInfo, b(2))), str("c")), WantErr: protocolErr},
	{Name: "connect/v5-auth-data-without-method", Version: v5, Raw: pkt(0x10, connect5, b(2), u16(0), props(prop(packet.PropAuthData, str("x"))), str("c")), WantErr: protocolErr},
	{Name: "connect/v5-forbidden-topic-alias", Version: v5, Raw: pkt(0x10, connect5, b(2), u16(0), props(prop(packet.PropTopicAlias, u16(1))), str("c")), WantErr: malformed},
	{Name: "connect/v5-unknown-property", Version: v5, Raw: pkt(0x10, connect5, b(2), u16(0), props(b(0x05, 0)), str("c")), WantErr: malformed},
	{Name: "connect/v5-will-session-expiry", Version: v5, Raw: pkt(0x10, connect5, b(0x06), u16(0), props(), str("c"), props(prop(packet.PropSessionExpiry, u32(1))), str("t"), str("p")), WantErr: malformed},
	{Name: "connect/v5-will-duplicate-delay", Version: v5, Raw: pkt(0x10, connect5, b(0x06), u16(0), props(), str("c"), props(prop(packet.PropWillDelay, u32(1)), prop(packet.PropWillDelay, u32(1))), str("t"), str("p")), WantErr: protocolErr},
	{Name: "connect/v5-properties-length-too-long", Version: v5, Raw: pkt(0x10, connect5, b(2), u16(0), b(20), prop(packet.PropSessionExpiry, u32(1))), WantErr: malformed},
	{Name: "connect/v5-user-property-cut", Version: v5, Raw: pkt(0x10, connect5, b(2), u16(0), props(prop(packet.PropUser, str("k"), u16(4))), str("c")), WantErr: malformed},

	// CONNACK.
	{Name: "connack/v311-reserved-flags", Version: v311, Raw: b(0x20, 2, 2, 0), WantErr: malformed},
	{Name: "connack/v311-return-code-6", Version: v311, Raw: b(0x20, 2, 0, 6), WantErr: protocolErr},
	{Name: "connack/v311-session-present-on-error", Version: v311, Raw: b(0x20, 2, 1, 5), WantErr: protocolErr},
	{Name: "connack/v311-too-long", Version: v311, Raw: b(0x20, 3, 0, 0, 0), WantErr: malformed},
	{Name: "connack/v5-reason-0x10", Version: v5, Raw: pkt(0x20, b(0, 0x10), props()), WantErr: protocolErr},
	{Name: "connack/v5-maximum-qos-2", Version: v5, Raw: pkt(0x20, b(0, 0), props(prop(packet.PropMaximumQoS, b(2)))), WantErr: protocolErr},
	{Name: "connack/v5-retain-available-2", Version: v5, Raw: pkt(0x20, b(0, 0), props(prop(packet.PropRetainAvailable, b(2)))), WantErr: protocolErr},
	{Name: "connack/v5-forbidden-will-delay", Version: v5, Raw: pkt(0x20, b(0, 0), props(prop(packet.PropWillDelay, u32(2)))), WantErr: malformed},
	{Name: "connack/v5-missing-properties", Version: v5, Raw: b(0x20, 2, 0, 0), WantErr: malformed},

	// PUBLISH.
	{Name: "publish/topic-wildcard-plus", Version: v311, Raw: pkt(0x30, str("a/+/b"), []byte("x")), WantErr: malformed},
	{Name: "publish/topic-wildcard-hash", Version: v5, Raw: pkt(0x30, str("a/#"), props()), WantErr: malformed},
	{Name: "publish/topic-empty-v311", Version: v311, Raw: pkt(0x30, str(""), []byte("x")), WantErr: malformed},
	{Name: "publish/topic-empty-v5-without-alias", Version: v5, Raw: pkt(0x30, str(""), props(), []byte("x")), WantErr: protocolErr},
	{Name: "publish/topic-invalid-utf8", Version: v311, Raw: pkt(0x30, str("a/\xc3"), []byte("x")), WantErr: malformed},
	{Name: "publish/topic-nul", Version: v311, Raw: pkt(0x30, str("a/\x00"), []byte("x")), WantErr: malformed},
	{Name: "publish/topic-cut", Version: v311, Raw: pkt(0x30, u16(5), []byte("a/b")), WantErr: malformed},
	{Name: "publish/qos1-packet-id-0", Version: v311, Raw: pkt(0x32, str("a"), u16(0), []byte("x")), WantErr: protocolErr},
	{Name: "publish/qos1-packet-id-cut", Version: v311, Raw: pkt(0x32, str("a"), b(1)), WantErr: malformed},
	{Name: "publish/v5-topic-invalid-utf8", Version: v5, Raw: pkt(0x30, str("a\xc3\x28"), props(), []byte("x")), WantErr: malformed},
	{Name: "publish/v5-topic-nul", Version: v5, Raw: pkt(0x30, str("a\x00b"), props(), []byte("x")), WantErr: malformed},
	{Name: "publish/v5-topic-wildcard-plus", Version: v5, Raw: pkt(0x30, str("a/+/b"), props(), []byte("x")), WantErr: malformed},
	{Name: "publish/v5-qos1-packet-id-0", Version: v5, Raw: pkt(0x32, str("a"), u16(0), props()), WantErr: protocolErr},
	{Name: "publish/v5-body-shorter-than-topic", Version: v5, Raw: b(0x30, 1, 0), WantErr: malformed},
	{Name: "publish/qos0-dup", Version: v311, Raw: pkt(0x38, str("a"), []byte("x")), WantErr: malformed},
	{Name: "publish/v5-topic-alias-0", Version: v5, Raw: pkt(0x30, str("a"), props(prop(packet.PropTopicAlias, u16(0)))), WantErr: protocolErr},
	{Name: "publish/v5-payload-format-2", Version: v5, Raw: pkt(0x30, str("a"), props(prop(packet.PropPayloadFormat, b(2)))), WantErr: protocolErr},
	{Name: "publish/v5-subscription-id-0", Version: v5, Raw: pkt(0x30, str("a"), props(prop(packet.PropSubscriptionID, b(0)))), WantErr: protocolErr},
	{Name: "publish/v5-duplicate-message-expiry", Version: v5, Raw: pkt(0x30, str("a"), props(prop(packet.PropMessageExpiry, u32(1)), prop(packet.PropMessageExpiry, u32(1)))), WantErr: protocolErr},
	{Name: "publish/v5-duplicate-topic-alias", Version: v5, Raw: pkt(0x30, str("a"), props(prop(packet.PropTopicAlias, u16(1)), prop(packet.PropTopicAlias, u16(2)))), WantErr: protocolErr},
	{Name: "publish/v5-forbidden-session-expiry", Version: v5, Raw: pkt(0x30, str("a"), props(prop(packet.PropSessionExpiry, u32(1)))), WantErr: malformed},
	{Name: "publish/v5-response-topic-wildcard", Version: v5, Raw: pkt(0x30, str("a"), props(prop(packet.PropResponseTopic, str("r/#")))), WantErr: protocolErr},
	{Name: "publish/v5-content-type-invalid-utf8", Version: v5, Raw: pkt(0x30, str("a"), props(prop(packet.PropContentType, str("\xff")))), WantErr: malformed},
	{Name: "publish/v5-properties-length-too-long", Version: v5, Raw: pkt(0x30, str("a"), b(9), prop(packet.PropPayloadFormat, b(1))), WantErr: malformed},
	{Name: "publish/v5-properties-missing", Version: v5, Raw: pkt(0x30, str("a")), WantErr: malformed},
	{Name: "publish/v5-subscription-id-5-bytes", Version: v5, Raw: pkt(0x30, str("a"), props(prop(packet.PropSubscriptionID, b(0x80, 0x80, 0x80, 0x80, 0x01)))), WantErr: malformed},

	// PUBACK, PUBREC, PUBREL, PUBCOMP.
	{Name: "puback/v311-too-long", Version: v311, Raw: b(0x40, 3, 0, 1, 0), WantErr: malformed},
	{Name: "puback/too-short", Version: v311, Raw: b(0x40, 1, 0), WantErr: malformed},
	{Name: "puback/packet-id-0", Version: v311, Raw: b(0x40, 2, 0, 0), WantErr: protocolErr},
	{Name: "puback/v5-reason-0x92", Version: v5, Raw: b(0x40, 3, 0, 1, 0x92), WantErr: protocolErr},
	{Name: "pubrel/v5-reason-0x10", Version: v5, Raw: b(0x62, 3, 0, 1, 0x10), WantErr: protocolErr},
	{Name: "pubcomp/v5-forbidden-topic-alias", Version: v5, Raw: pkt(0x70, u16(1), b(0), props(prop(packet.PropTopicAlias, u16(1)))), WantErr: malformed},
	{Name: "pubrec/v5-duplicate-reason-string", Version: v5, Raw: pkt(0x50, u16(1), b(0x80), props(prop(packet.PropReasonString, str("a")), prop(packet.PropReasonString, str("b")))), WantErr: protocolErr},

	// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK.
	{Name: "subscribe/no-filter", Version: v311, Raw: pkt(0x82, u16(1)), WantErr: protocolErr},
	{Name: "subscribe/v5-no-filter", Version: v5, Raw: pkt(0x82, u16(1), props()), WantErr: protocolErr},
	{Name: "subscribe/packet-id-0", Version: v311, Raw: pkt(0x82, u16(0), str("a"), b(0)), WantErr: protocolErr},
	{Name: "subscribe/qos3", Version: v311, Raw: pkt(0x82, u16(1), str("a"), b(3)), WantErr: malformed},
	{Name: "subscribe/v311-reserved-option-bits", Version: v311, Raw: pkt(0x82, u16(1), str("a"), b(0x04)), WantErr: malformed},
	{Name: "subscribe/v5-reserved-option-bits", Version: v5, Raw: pkt(0x82, u16(1), props(), str("a"), b(0x40)), WantErr: malformed},
	{Name: "subscribe/v5-retain-handling-3", Version: v5, Raw: pkt(0x82, u16(1), props(), str("a"), b(0x30)), WantErr: malformed},
	{Name: "subscribe/v5-no-local-shared", Version: v5, Raw: pkt(0x82, u16(1), props(), str("$share/g/a"), b(0x04)), WantErr: protocolErr},
	{Name: "subscribe/bad-wildcard", Version: v311, Raw: pkt(0x82, u16(1), str("a/#/b"), b(0)), WantErr: malformed},
	{Name: "subscribe/bad-share", Version: v311, Raw: pkt(0x82, u16(1), str("$share/g+/a"), b(0)), WantErr: malformed},
	{Name: "subscribe/empty-filter", Version: v311, Raw: pkt(0x82, u16(1), str(""), b(0)), WantErr: malformed},
	{Name: "subscribe/options-missing", Version: v311, Raw: pkt(0x82, u16(1), str("a")), WantErr: malformed},
	{Name: "subscribe/v5-two-subscription-ids", Version: v5, Raw: pkt(0x82, u16(1), props(prop(packet.PropSubscriptionID, b(1)), prop(packet.PropSubscriptionID, b(2))), str("a"), b(0)), WantErr: protocolErr},
	{Name: "subscribe/v5-subscription-id-0", Version: v5, Raw: pkt(0x82, u16(1), props(prop(packet.PropSubscriptionID, b(0))), str("a"), b(0)), WantErr: protocolErr},
	{Name: "suback/no-reason-code", Version: v311, Raw: b(0x90, 2, 0, 1), WantErr: protocolErr},
	{Name: "suback/v311-code-3", Version: v311, Raw: b(0x90, 3, 0, 1, 3), WantErr: protocolErr},
	{Name: "suback/v5-code-0x84", Version: v5, Raw: b(0x90, 4, 0, 1, 0, 0x84), WantErr: protocolErr},
	{Name: "unsubscribe/no-filter", Version: v311, Raw: pkt(0xA2, u16(1)), WantErr: protocolErr},
	{Name: "unsubscribe/packet-id-0", Version: v311, Raw: pkt(0xA2, u16(0), str("a")), WantErr: protocolErr},
	{Name: "unsubscribe/bad-filter", Version: v311, Raw: pkt(0xA2, u16(1), str("a+")), WantErr: malformed},
	{Name: "unsubscribe/v5-forbidden-subscription-id", Version: v5, Raw: pkt(0xA2, u16(1), props(prop(packet.PropSubscriptionID, b(1))), str("a")), WantErr: malformed},
	{Name: "unsuback/v311-too-long", Version: v311, Raw: b(0xB0, 3, 0, 1, 0), WantErr: malformed},
	{Name: "unsuback/v5-no-reason-code", Version: v5, Raw: pkt(0xB0, u16(1), props()), WantErr: protocolErr},
	{Name: "unsuback/v5-code-0x01", Version: v5, Raw: pkt(0xB0, u16(1), props(), b(1)), WantErr: protocolErr},

	// PINGREQ, PINGRESP, DISCONNECT, AUTH.
	{Name: "pingreq/body", Version: v311, Raw: b(0xC0, 1, 0), WantErr: malformed},
	{Name: "pingresp/body", Version: v5, Raw: b(0xD0, 1, 0), WantErr: malformed},
	{Name: "disconnect/v311-body", Version: v311, Raw: b(0xE0, 1, 0), WantErr: malformed},
	{Name: "disconnect/v5-reason-0x01", Version: v5, Raw: b(0xE0, 1, 0x01), WantErr: protocolErr},
	{Name: "disconnect/v5-forbidden-topic-alias", Version: v5, Raw: pkt(0xE0, b(0), props(prop(packet.PropTopicAlias, u16(1)))), WantErr: malformed},
	{Name: "disconnect/v5-flags", Version: v5, Raw: b(0xE2, 0), WantErr: malformed},
	{Name: "auth/v5-reason-0x80", Version: v5, Raw: b(0xF0, 1, 0x80), WantErr: protocolErr},
	{Name: "auth/v5-auth-data-without-method", Version: v5, Raw: pkt(0xF0, b(0x18), props(prop(packet.PropAuthData, str("x")))), WantErr: protocolErr},
	{Name: "auth/v5-properties-cut", Version: v5, Raw: b(0xF0, 3, 0x18, 5, 0x15), WantErr: malformed},
}
