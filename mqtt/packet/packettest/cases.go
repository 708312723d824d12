package packettest

import (
	"slices"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// Case is one raw packet and what decoding it must give.
type Case struct {
	// Name identifies the case in subtest names.
	Name string
	// Version is the protocol version to decode (and encode) with. For a
	// CONNECT it is also the version the packet carries.
	Version packet.Version
	// Raw is exactly one packet; see Decode.
	Raw []byte
	// Packet is the decoded packet, nil when WantErr is set.
	Packet packet.Packet
	// WantErr is the reason code of the expected decode error, 0 when Raw
	// is valid.
	WantErr packet.ReasonCode
	// NoEncode marks a valid Raw that is not the encoder's canonical form
	// (for example an explicit empty property block): encoding Packet
	// gives other, equivalent bytes.
	NoEncode bool
}

// Cases is the whole table: valid packets of every type for 3.1, 3.1.1 and
// 5.0, then malformed ones.
var Cases = slices.Concat(V311Cases, V5Cases, MalformedCases)

// DoorlockState is the door lock's state payload (scenarios/doorlock).
const DoorlockState = `{"process_id":"7802441525528958","action":"unlock","battery":83.4,` +
	`"lock_state":1,"version":1.1,"client_id":"10083618796833171"}`

// DoorlockTopic is the state topic of lock 10083618796833171.
const DoorlockTopic = "devices/10083618796833171/state"

// V311Cases are valid 3.1 and 3.1.1 packets.
var V311Cases = []Case{
	{
		Name: "connect/v311/minimal", Version: packet.V311,
		Raw: pkt(0x10, str("MQTT"), b(4, 0x02), u16(60), str("c1")),
		Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true,
			KeepAlive: 60, ClientID: "c1"},
	},
	{
		Name: "connect/v311/will-username-password", Version: packet.V311,
		Raw: pkt(0x10, str("MQTT"), b(4, 0xEC), u16(30), str("10083618796833171"),
			str("devices/10083618796833171/status"), str("offline"), str("lock"), str("s3cret")),
		Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, KeepAlive: 30,
			ClientID: "10083618796833171", WillFlag: true, WillQoS: 1, WillRetain: true,
			WillTopic: "devices/10083618796833171/status", WillPayload: []byte("offline"),
			UsernameFlag: true, Username: "lock", PasswordFlag: true, Password: []byte("s3cret")},
	},
	{
		Name: "connect/v311/empty-client-id-username-only", Version: packet.V311,
		Raw: pkt(0x10, str("MQTT"), b(4, 0x82), u16(0), str(""), str("")),
		Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true,
			UsernameFlag: true},
	},
	{
		Name: "connect/v31/mqisdp", Version: packet.V31,
		Raw: pkt(0x10, str("MQIsdp"), b(3, 0x02), u16(10), str("old-client")),
		Packet: &packet.Connect{ProtocolName: "MQIsdp", Version: packet.V31, CleanStart: true,
			KeepAlive: 10, ClientID: "old-client"},
	},
	{
		Name: "connack/v311/session-present", Version: packet.V311, Raw: b(0x20, 2, 1, 0),
		Packet: &packet.Connack{SessionPresent: true},
	},
	{
		Name: "connack/v311/not-authorized", Version: packet.V311, Raw: b(0x20, 2, 0, 5),
		Packet: &packet.Connack{ReasonCode: packet.V311NotAuthorized},
	},
	{
		Name: "publish/v311/qos0", Version: packet.V311,
		Raw:    pkt(0x30, str("a/b"), []byte("hi")),
		Packet: &packet.Publish{Topic: "a/b", Payload: []byte("hi")},
	},
	{
		Name: "publish/v311/qos1-doorlock", Version: packet.V311,
		Raw:    pkt(0x32, str(DoorlockTopic), u16(7), []byte(DoorlockState)),
		Packet: &packet.Publish{QoS: 1, Topic: DoorlockTopic, PacketID: 7, Payload: []byte(DoorlockState)},
	},
	{
		Name: "publish/v311/qos2-dup-retain-empty-payload", Version: packet.V311,
		Raw:    pkt(0x3D, str("$SYS/x"), u16(0xFFFF)),
		Packet: &packet.Publish{Dup: true, QoS: 2, Retain: true, Topic: "$SYS/x", PacketID: 0xFFFF},
	},
	{
		Name: "publish/v311/utf8-topic", Version: packet.V311,
		Raw:    pkt(0x30, str("maison/séjour/温度"), []byte("21")),
		Packet: &packet.Publish{Topic: "maison/séjour/温度", Payload: []byte("21")},
	},
	{
		Name: "puback/v311", Version: packet.V311, Raw: b(0x40, 2, 0, 7),
		Packet: &packet.Ack{PacketType: packet.TypePuback, PacketID: 7},
	},
	{
		Name: "pubrec/v311", Version: packet.V311, Raw: b(0x50, 2, 1, 0),
		Packet: &packet.Ack{PacketType: packet.TypePubrec, PacketID: 256},
	},
	{
		Name: "pubrel/v311", Version: packet.V311, Raw: b(0x62, 2, 1, 0),
		Packet: &packet.Ack{PacketType: packet.TypePubrel, PacketID: 256},
	},
	{
		Name: "pubcomp/v311", Version: packet.V311, Raw: b(0x70, 2, 0xFF, 0xFF),
		Packet: &packet.Ack{PacketType: packet.TypePubcomp, PacketID: 0xFFFF},
	},
	{
		Name: "subscribe/v311", Version: packet.V311,
		Raw: pkt(0x82, u16(1), str("devices/10083618796833171/command"), b(1),
			str("devices/+/state"), b(0), str("$share/g/#"), b(2)),
		Packet: &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
			{Filter: "devices/10083618796833171/command", QoS: 1},
			{Filter: "devices/+/state"}, {Filter: "$share/g/#", QoS: 2}}},
	},
	{
		Name: "suback/v311", Version: packet.V311, Raw: b(0x90, 5, 0, 1, 1, 0x80, 2),
		Packet: &packet.Suback{PacketID: 1, ReasonCodes: []packet.ReasonCode{1, 0x80, 2}},
	},
	{
		Name: "unsubscribe/v311", Version: packet.V311,
		Raw:    pkt(0xA2, u16(2), str("devices/+/state"), str("a/#")),
		Packet: &packet.Unsubscribe{PacketID: 2, Filters: []string{"devices/+/state", "a/#"}},
	},
	{
		Name: "unsuback/v311", Version: packet.V311, Raw: b(0xB0, 2, 0, 2),
		Packet: &packet.Unsuback{PacketID: 2},
	},
	{Name: "pingreq/v311", Version: packet.V311, Raw: b(0xC0, 0), Packet: &packet.Pingreq{}},
	{Name: "pingresp/v311", Version: packet.V311, Raw: b(0xD0, 0), Packet: &packet.Pingresp{}},
	{Name: "disconnect/v311", Version: packet.V311, Raw: b(0xE0, 0), Packet: &packet.Disconnect{}},
	{
		Name: "publish/v31/qos1", Version: packet.V31,
		Raw:    pkt(0x32, str("t"), u16(1), []byte("x")),
		Packet: &packet.Publish{QoS: 1, Topic: "t", PacketID: 1, Payload: []byte("x")},
	},
}
