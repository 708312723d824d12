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
	"github.com/iothub-dev/iothub/mqtt/packet/packettest"
)

// encode returns p encoded for v, failing the test on error.
func encode(t *testing.T, p packet.Packet, v packet.Version) []byte {
	t.Helper()
	b, err := p.AppendTo(nil, v)
	require.NoError(t, err)
	return b
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

	// What a packet decoder alone cannot tell, by the connection's state
	// and limits; TestMalformed_codecCases sends the codec's malformed
	// packets.
	tests := []struct {
		name    string
		connect []byte // sent and answered with CONNACK first; nil: none
		send    []byte
		// code is the reason code of the DISCONNECT the broker must send
		// before closing; 0 means the connection is closed without one
		// (3.1.1, or no CONNECT accepted yet).
		code packet.ReasonCode
	}{
		{"secondConnect", v5Connect, v5Connect, packet.ProtocolError},
		{"serverOnlyPacket", v5Connect, encode(t, &packet.Connack{}, packet.V5), packet.ProtocolError},
		{"oversizedPacket", v5Connect, encode(t, &packet.Publish{Topic: "alive/x", Payload: make([]byte, maxPacket)}, packet.V5), packet.PacketTooLarge},
		{"oversizedHeaderOnly", v5Connect, []byte{0x30, 0xff, 0xff, 0x03}, packet.PacketTooLarge},
		{"packetBeforeConnect", nil, []byte{0xc0, 0}, 0},
		{"publishBeforeConnect", nil, encode(t, &packet.Publish{Topic: "alive/x"}, packet.V5), 0},
		{"malformedConnect", nil, v5Connect[:len(v5Connect)-1], 0},
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

// TestMalformed_codecCases sends every malformed packet of the codec's case
// table (packettest.MalformedCases) to the broker on a connection of its
// own: each closes that connection alone — with a DISCONNECT carrying the
// decoder's reason code on MQTT 5, or Protocol Error for a packet type the
// client may not send here (a server's packet; AUTH without enhanced
// authentication) — and the client beside it keeps working. Bytes that are
// not exactly one packet (cut short, or a packet and the start of another)
// are followed by a half-close, as from a peer that died there; the broker
// may then close with or without a DISCONNECT.
func TestMalformed_codecCases(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	alive := connectV5(t, addr, "alive", nil)
	alive.subscribe(t, paho.SubscribeOptions{Topic: "alive/#", QoS: 1})
	for i, tc := range packettest.MalformedCases {
		t.Run(tc.Name, func(t *testing.T) {
			rc := dialRaw(t, addr, tc.Version)
			first := packet.Type(tc.Raw[0] >> 4)
			if first != packet.TypeConnect {
				rc.send(&packet.Connect{Version: tc.Version, ClientID: fmt.Sprint("bad-", i), CleanStart: true, KeepAlive: 30})
				require.IsType(t, &packet.Connack{}, rc.read())
			}
			rc.write(tc.Raw)
			exact := exactlyOnePacket(tc.Raw)
			if !exact {
				require.NoError(t, rc.conn.(*net.TCPConn).CloseWrite())
			}
			d := rc.closed()
			switch {
			case tc.Version < packet.V5 || first == packet.TypeConnect:
				require.Nil(t, d, "no DISCONNECT before CONNACK or on 3.1.1")
			case !exact:
				if d != nil {
					require.Equal(t, tc.WantErr, d.ReasonCode, "got %s", d.ReasonCode)
				}
			case refusedByType(first):
				require.NotNil(t, d)
				require.Equal(t, packet.ProtocolError, d.ReasonCode, "got %s", d.ReasonCode)
			default:
				require.NotNil(t, d, "v5: DISCONNECT with a reason code before closing")
				require.Equal(t, tc.WantErr, d.ReasonCode, "got %s", d.ReasonCode)
			}
		})
		if i%16 == 0 {
			checkAlive(t, alive, i)
		}
	}
	checkAlive(t, alive, len(packettest.MalformedCases))
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats().Connections == 1 }, "only the alive client is left")
}

// exactlyOnePacket reports whether raw is one packet, no more and no less,
// by its fixed header (a malformed remaining length counts: the broker
// refuses it from the header alone).
func exactlyOnePacket(raw []byte) bool {
	n, size, err := packet.DecodeVarInt(raw[1:])
	return err != nil || size > 0 && len(raw) == 1+size+n
}

// refusedByType reports whether the broker refuses a client's packet of
// type t whatever it holds: a packet only a server sends, or AUTH on a
// connection that started no enhanced authentication.
func refusedByType(t packet.Type) bool {
	switch t {
	case packet.TypeConnack, packet.TypeSuback, packet.TypeUnsuback, packet.TypePingresp, packet.TypeAuth:
		return true
	}
	return false
}
