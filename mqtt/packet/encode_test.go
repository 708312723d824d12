package packet

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAppendTo_refuses(t *testing.T) {
	long := strings.Repeat("a", 65536)
	tests := []struct {
		name string
		p    Packet
		v    Version
	}{
		{"publish qos 3", &Publish{QoS: 3, PacketID: 1, Topic: "a"}, V311},
		{"publish qos1 without id", &Publish{QoS: 1, Topic: "a"}, V311},
		{"publish dup qos0", &Publish{Dup: true, Topic: "a"}, V311},
		{"publish wildcard", &Publish{Topic: "a/+"}, V5},
		{"publish empty topic v311", &Publish{Properties: Properties{TopicAlias: 1}}, V311},
		{"publish empty topic v5 no alias", &Publish{}, V5},
		{"publish topic too long", &Publish{Topic: long}, V311},
		{"publish topic invalid utf8", &Publish{Topic: "\xff"}, V311},
		{"publish forbidden property", &Publish{Topic: "a", Properties: Properties{ReceiveMaximum: 1}}, V5},
		{"publish payload format 2", &Publish{Topic: "a", Properties: Properties{PayloadFormat: 2}}, V5},
		{"publish expiry without has", &Publish{Topic: "a", Properties: Properties{MessageExpiry: 5}}, V5},
		{"publish subscription id 0", &Publish{Topic: "a", Properties: Properties{SubscriptionIDs: []uint32{0}}}, V5},
		{"publish user key too long", &Publish{Topic: "a", Properties: Properties{User: []UserProperty{{Key: long}}}}, V5},
		{"publish content type nul", &Publish{Topic: "a", Properties: Properties{ContentType: "a\x00"}}, V5},
		{"publish response topic wildcard", &Publish{Topic: "a", Properties: Properties{ResponseTopic: "#"}}, V5},
		{"publish unknown version", &Publish{Topic: "a"}, 6},
		{"connect will qos without flag", &Connect{WillQoS: 1}, V311},
		{"connect password without username v311", &Connect{PasswordFlag: true}, V311},
		{"connect will topic wildcard", &Connect{WillFlag: true, WillTopic: "#"}, V311},
		{"connect version mismatch", &Connect{Version: V5}, V311},
		{"connect name mismatch", &Connect{ProtocolName: "MQIsdp"}, V311},
		{"connect no version", &Connect{}, 0},
		{"connect forbidden will property", &Connect{WillFlag: true, WillTopic: "t",
			WillProperties: Properties{HasSessionExpiry: true}}, V5},
		{"connect auth data without method", &Connect{Properties: Properties{AuthData: []byte("x")}}, V5},
		{"connack v5 bad code", &Connack{ReasonCode: 5}, V5},
		{"connack session present on error", &Connack{SessionPresent: true, ReasonCode: NotAuthorized}, V5},
		{"ack bad type", &Ack{PacketType: TypePublish, PacketID: 1}, V5},
		{"ack id 0", &Ack{PacketType: TypePuback}, V311},
		{"pubrel bad code", &Ack{PacketType: TypePubrel, PacketID: 1, ReasonCode: NoMatchingSubscribers}, V5},
		{"subscribe empty", &Subscribe{PacketID: 1}, V311},
		{"subscribe bad filter", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a#"}}}, V311},
		{"subscribe no local shared", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "$share/g/a", NoLocal: true}}}, V5},
		{"subscribe two ids", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a"}},
			Properties: Properties{SubscriptionIDs: []uint32{1, 2}}}, V5},
		{"suback v311 bad code", &Suback{PacketID: 1, ReasonCodes: []ReasonCode{NoMatchingSubscribers}}, V311},
		{"unsubscribe empty", &Unsubscribe{PacketID: 1}, V5},
		{"unsuback v5 no codes", &Unsuback{PacketID: 1}, V5},
		{"disconnect bad code", &Disconnect{ReasonCode: GrantedQoS1}, V5},
		{"disconnect forbidden property", &Disconnect{Properties: Properties{TopicAlias: 1}}, V5},
		{"auth v311", &Auth{}, V311},
		{"auth bad code", &Auth{ReasonCode: UnspecifiedError}, V5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := tc.p.AppendTo(dst, tc.v)
			require.Error(t, err)
			require.Equal(t, []byte("keep"), got)
			_, err = Size(tc.p, tc.v)
			require.Error(t, err)
		})
	}
}

func TestAppendTo_v311Downgrades(t *testing.T) {
	b, err := (&Connack{ReasonCode: BadUsernameOrPassword}).AppendTo(nil, V311)
	require.NoError(t, err)
	require.Equal(t, []byte{0x20, 2, 0, byte(V311BadUsernameOrPassword)}, b)

	b, err = (&Suback{PacketID: 1, ReasonCodes: []ReasonCode{GrantedQoS1, NotAuthorized}}).AppendTo(nil, V311)
	require.NoError(t, err)
	require.Equal(t, []byte{0x90, 4, 0, 1, 1, 0x80}, b)

	b, err = (&Unsuback{PacketID: 1, ReasonCodes: []ReasonCode{Success}}).AppendTo(nil, V311)
	require.NoError(t, err)
	require.Equal(t, []byte{0xb0, 2, 0, 1}, b)

	b, err = (&Disconnect{ReasonCode: ServerShuttingDown}).AppendTo(nil, V311)
	require.NoError(t, err)
	require.Equal(t, []byte{0xe0, 0}, b)
}

func TestAppendTo_tooLarge(t *testing.T) {
	p := &Publish{Topic: "a", Payload: make([]byte, MaxRemainingLength)}
	_, err := p.AppendTo(nil, V311)
	require.ErrorIs(t, err, ErrTooLarge)
	require.Equal(t, PacketTooLarge, CodeOf(err))
}

func TestPublishSize(t *testing.T) {
	p := &Publish{QoS: 1, PacketID: 1, Topic: "a/b", Payload: make([]byte, 200),
		Properties: Properties{User: []UserProperty{{Key: "k", Value: "v"}}}}
	for _, v := range []Version{V311, V5} {
		b, err := p.AppendTo(nil, v)
		require.NoError(t, err)
		n, err := p.Size(v)
		require.NoError(t, err)
		require.Len(t, b, n)
	}
}

func TestAllowed(t *testing.T) {
	require.True(t, Allowed(TypePublish, PropTopicAlias))
	require.True(t, Allowed(TypePublish, PropSubscriptionID))
	require.False(t, Allowed(TypePublish, PropWillDelay))
	require.True(t, Allowed(TypeConnack, PropSharedSubAvailable))
	require.False(t, Allowed(TypePingreq, PropUser))
	require.True(t, Allowed(TypeUnsubscribe, PropUser))
	require.True(t, AllowedInWill(PropWillDelay))
	require.False(t, AllowedInWill(PropTopicAlias))
	// User properties are allowed wherever properties are.
	for _, ty := range []Type{TypeConnect, TypeConnack, TypePublish, TypePuback, TypePubrec, TypePubrel,
		TypePubcomp, TypeSubscribe, TypeSuback, TypeUnsubscribe, TypeUnsuback, TypeDisconnect, TypeAuth} {
		require.True(t, Allowed(ty, PropUser), ty.String())
	}
}

func TestStrings(t *testing.T) {
	require.Equal(t, "malformed packet", MalformedPacket.String())
	require.Equal(t, "reason code 0x03", ReasonCode(3).String())
	require.Equal(t, "topic alias", PropTopicAlias.String())
	require.Equal(t, "property(0x05)", PropertyID(5).String())
	err := &Error{Code: ProtocolError}
	require.Equal(t, "protocol error", err.Error())
}

func TestConnackReturnCode(t *testing.T) {
	require.Equal(t, V311Accepted, ConnackReturnCode(Success))
	require.Equal(t, V311UnacceptableProtocolVersion, ConnackReturnCode(UnsupportedProtocolVersion))
	require.Equal(t, V311IdentifierRejected, ConnackReturnCode(ClientIdentifierNotValid))
	require.Equal(t, V311BadUsernameOrPassword, ConnackReturnCode(BadUsernameOrPassword))
	require.Equal(t, V311NotAuthorized, ConnackReturnCode(Banned))
	require.Equal(t, V311ServerUnavailable, ConnackReturnCode(ServerBusy))
	require.Equal(t, V311NotAuthorized, ConnackReturnCode(V311NotAuthorized))
}

func TestConnackReasonV5(t *testing.T) {
	for _, r := range []ReasonCode{UnsupportedProtocolVersion, ClientIdentifierNotValid, ServerUnavailable,
		BadUsernameOrPassword, NotAuthorized} {
		require.Equal(t, r, ConnackReasonV5(ConnackReturnCode(r)), "%s round trip", r)
	}
	require.Equal(t, Banned, ConnackReasonV5(Banned))
	require.Equal(t, Success, ConnackReasonV5(V311Accepted))
}
