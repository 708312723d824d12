package broker_test

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// encode returns p encoded for v, failing the test on error.
func encode(t *testing.T, p packet.Packet, v packet.Version) []byte {
	t.Helper()
	b, err := p.AppendTo(nil, v)
	require.NoError(t, err)
	return b
}

// rawPublishQoS0 builds a QoS 0 PUBLISH with topic bytes as given (no
// validation) for v5.
func rawPublishQoS0(topic []byte) []byte {
	body := append([]byte{byte(len(topic) >> 8), byte(len(topic))}, topic...)
	body = append(body, 0) // no properties
	body = append(body, "payload"...)
	return append([]byte{0x30, byte(len(body))}, body...)
}

func TestMalformed_closesOnlyThatConnection(t *testing.T) {
	const maxPacket = 512
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		o.MaxPacketSize = maxPacket
		o.ConnectTimeout = 300 * time.Millisecond
	})
	alive := connectV5(t, addr, "alive", nil)
	alive.subscribe(t, paho.SubscribeOptions{Topic: "alive/#", QoS: 1})

	v5Connect := encode(t, &packet.Connect{Version: packet.V5, ClientID: "bad", CleanStart: true, KeepAlive: 30}, packet.V5)
	v3Connect := encode(t, &packet.Connect{Version: packet.V311, ClientID: "bad3", CleanStart: true, KeepAlive: 30}, packet.V311)
	subscribeBadFlags := encode(t, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}}, packet.V5)
	subscribeBadFlags[0] = 0x80 // SUBSCRIBE must have flags 0b0010
	qos1ID0 := []byte{0x32, 6, 0, 1, 'a', 0, 0, 0}
	// SUBSCRIBE "$share/g/t" with No Local (options 0x05): MQTT-3.8.3-4.
	sharedNoLocal := append([]byte{0x82, 16, 0, 1, 0, 0, 10}, "$share/g/t\x05"...)

	tests := []struct {
		name    string
		connect []byte // sent and answered with CONNACK first; nil: none
		send    []byte
		// code is the reason code of the DISCONNECT the broker must send
		// before closing; 0 means the connection is closed without one
		// (3.1.1, or no CONNECT accepted yet).
		code packet.ReasonCode
	}{
		{"remainingLengthFiveBytes", v5Connect, []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, packet.MalformedPacket},
		{"reservedFlags", v5Connect, subscribeBadFlags, packet.MalformedPacket},
		{"reservedFlagsPingreq", v5Connect, []byte{0xc1, 0}, packet.MalformedPacket},
		{"reservedPacketType", v5Connect, []byte{0x00, 0}, packet.MalformedPacket},
		{"publishQoS3", v5Connect, []byte{0x36, 4, 0, 1, 'a', 0}, packet.MalformedPacket},
		{"invalidUTF8Topic", v5Connect, rawPublishQoS0([]byte{'a', 0xc3, 0x28}), packet.MalformedPacket},
		{"nulInTopic", v5Connect, rawPublishQoS0([]byte{'a', 0, 'b'}), packet.MalformedPacket},
		{"wildcardInPublishTopic", v5Connect, rawPublishQoS0([]byte("a/#")), packet.MalformedPacket},
		{"plusInPublishTopic", v5Connect, rawPublishQoS0([]byte("a/+/b")), packet.MalformedPacket},
		{"publishPacketID0", v5Connect, qos1ID0, packet.ProtocolError},
		{"bodyShorterThanFields", v5Connect, []byte{0x30, 1, 0}, packet.MalformedPacket},
		{"sharedNoLocal", v5Connect, sharedNoLocal, packet.ProtocolError},
		{"secondConnect", v5Connect, v5Connect, packet.ProtocolError},
		{"serverOnlyPacket", v5Connect, encode(t, &packet.Connack{}, packet.V5), packet.ProtocolError},
		{"oversizedPacket", v5Connect, encode(t, &packet.Publish{Topic: "alive/x", Payload: make([]byte, maxPacket)}, packet.V5), packet.PacketTooLarge},
		{"oversizedHeaderOnly", v5Connect, []byte{0x30, 0xff, 0xff, 0x03}, packet.PacketTooLarge},
		{"packetBeforeConnect", nil, []byte{0xc0, 0}, 0},
		{"publishBeforeConnect", nil, encode(t, &packet.Publish{Topic: "alive/x"}, packet.V5), 0},
		{"malformedConnect", nil, v5Connect[:len(v5Connect)-1], 0},
		{"v311Malformed", v3Connect, []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, 0},
		{"v311SecondConnect", v3Connect, v3Connect, 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := packet.V5
			if bytes.Equal(tc.connect, v3Connect) {
				v = packet.V311
			}
			rc := dialRaw(t, addr, v)
			if tc.connect != nil {
				rc.write(tc.connect)
				require.IsType(t, &packet.Connack{}, rc.read())
			}
			rc.write(tc.send)
			d := rc.closed()
			if tc.code == 0 {
				require.Nil(t, d, "no DISCONNECT expected")
			} else {
				require.NotNil(t, d, "v5: DISCONNECT with a reason code before closing")
				require.Equal(t, tc.code, d.ReasonCode, "got %s", d.ReasonCode)
				require.NotEmpty(t, d.Properties.ReasonString)
			}
			checkAlive(t, alive, i)
		})
	}

	t.Run("truncatedThenClose", func(t *testing.T) {
		rc := dialRaw(t, addr, packet.V5)
		rc.write(v5Connect)
		require.IsType(t, &packet.Connack{}, rc.read())
		rc.write([]byte{0x30, 100, 0, 7, 'a', 'l', 'i'})
		require.NoError(t, rc.conn.(*net.TCPConn).CloseWrite())
		require.Nil(t, rc.closed())
		checkAlive(t, alive, 100)
	})

	t.Run("slowloris", func(t *testing.T) {
		rc := dialRaw(t, addr, packet.V5)
		start := time.Now()
		go func() {
			// 50ms a byte: the whole CONNECT would take over a second,
			// far beyond the 300ms connect timeout.
			for _, b := range v5Connect {
				if _, err := rc.conn.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		p, err := rc.readErr(5 * time.Second)
		require.Error(t, err, "no CONNACK: got %v", p)
		var ne net.Error
		require.False(t, asNetError(err, &ne) && ne.Timeout(), "closed by the broker, not by our deadline")
		require.Less(t, time.Since(start), time.Duration(len(v5Connect))*50*time.Millisecond,
			"closed before the trickled CONNECT was complete")
		checkAlive(t, alive, 101)
	})

	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Connections == 1 }, "only the alive client is left")
	require.Positive(t, s.Stats().MalformedPackets)
	require.Positive(t, s.Stats().ProtocolErrors)
}

// checkAlive proves that c still publishes and receives.
func checkAlive(t *testing.T, c *v5Client, i int) {
	t.Helper()
	payload := []byte(fmt.Sprint("still here ", i))
	c.publish(t, &paho.Publish{Topic: "alive/x", QoS: 1, Payload: payload})
	require.Equal(t, payload, c.next(t).Payload)
}
