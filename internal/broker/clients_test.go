package broker_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// v5Client is a paho.golang (MQTT 5) client whose received publishes arrive
// on a channel.
type v5Client struct {
	*paho.Client
	msgs    chan *paho.Publish
	connack *paho.Connack
	discs   chan *paho.Disconnect
}

// connectV5 connects a paho.golang client to addr; configure may adjust the
// CONNECT packet. It disconnects when the test ends.
func connectV5(t *testing.T, addr, clientID string, configure func(*paho.Connect)) *v5Client {
	t.Helper()
	c, err := dialV5(t, addr, clientID, configure)
	require.NoError(t, err)
	return c
}

func dialV5(t *testing.T, addr, clientID string, configure func(*paho.Connect)) (*v5Client, error) {
	t.Helper()
	return dialV5Config(t, addr, clientID, nil, configure)
}

// dialV5Config is dialV5 with a hook to adjust the client's configuration
// (manual acknowledgment, say) before it connects.
func dialV5Config(t *testing.T, addr, clientID string, client func(*paho.ClientConfig), configure func(*paho.Connect)) (*v5Client, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	vc := &v5Client{msgs: make(chan *paho.Publish, 10000), discs: make(chan *paho.Disconnect, 4)}
	cfg := paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				vc.msgs <- pr.Packet
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) { vc.discs <- d },
		OnClientError:      func(error) {},
	}
	if client != nil {
		client(&cfg)
	}
	vc.Client = paho.NewClient(cfg)
	cp := &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30}
	if configure != nil {
		configure(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := vc.Connect(ctx, cp)
	vc.connack = ca
	if err != nil {
		_ = nc.Close()
		return vc, err
	}
	t.Cleanup(func() { _ = vc.Disconnect(&paho.Disconnect{ReasonCode: 0}) })
	return vc, nil
}

func (c *v5Client) subscribe(t *testing.T, opts ...paho.SubscribeOptions) *paho.Suback {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: opts})
	require.NoError(t, err)
	return sa
}

func (c *v5Client) publish(t *testing.T, p *paho.Publish) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Publish(ctx, p)
	require.NoError(t, err)
	return r
}

// publishCode publishes p (QoS 1 or 2) and returns the reason code of its
// acknowledgement, error codes included.
func (c *v5Client) publishCode(t *testing.T, p *paho.Publish) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Publish(ctx, p)
	if r != nil {
		return r.ReasonCode
	}
	require.NoError(t, err)
	return 0
}

// next returns the next received publish or fails after timeout.
func (c *v5Client) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case p := <-c.msgs:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no message received within 5s")
		return nil
	}
}

// none asserts that no publish arrives within d. Used only to check
// absence, after an event that proves the message would have arrived first.
func (c *v5Client) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case p := <-c.msgs:
		t.Fatalf("unexpected message on %q: %q", p.Topic, p.Payload)
	case <-time.After(d):
	}
}

// v3Client is a paho.mqtt.golang (MQTT 3.1.1) client.
type v3Client struct {
	mqtt3.Client
	msgs chan mqtt3.Message
}

func connectV3(t *testing.T, addr, clientID string, configure func(*mqtt3.ClientOptions)) *v3Client {
	t.Helper()
	vc := &v3Client{msgs: make(chan mqtt3.Message, 10000)}
	o := mqtt3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(clientID).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).
		SetCleanSession(true).SetKeepAlive(30 * time.Second).
		SetDefaultPublishHandler(func(_ mqtt3.Client, m mqtt3.Message) { vc.msgs <- m })
	if configure != nil {
		configure(o)
	}
	vc.Client = mqtt3.NewClient(o)
	tok := vc.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second), "connect timed out")
	require.NoError(t, tok.Error())
	t.Cleanup(func() { vc.Disconnect(100) })
	return vc
}

func (c *v3Client) sub(t *testing.T, filter string, qos byte) {
	t.Helper()
	tok := c.Subscribe(filter, qos, nil)
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
}

func (c *v3Client) pub(t *testing.T, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, retain, payload)
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
}

func (c *v3Client) next(t *testing.T) mqtt3.Message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message received within 5s")
		return nil
	}
}

// rawClient is a bare TCP MQTT client: it writes packets encoded with the
// codec (or raw bytes) and reads the broker's answers one by one, so tests
// see exactly what the broker put on the wire.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	v    packet.Version
}

func dialRaw(t *testing.T, addr string, v packet.Version) *rawClient {
	t.Helper()
	return &rawClient{t: t, conn: testutil.Dial(t, addr), v: v}
}

// connectRaw dials addr and completes a CONNECT (v5, Clean Start, keep alive
// 30 unless configure changes it); it fails the test unless CONNACK accepts.
func connectRaw(t *testing.T, addr, clientID string, configure func(*packet.Connect)) (*rawClient, *packet.Connack) {
	t.Helper()
	cp := &packet.Connect{Version: packet.V5, ClientID: clientID, CleanStart: true, KeepAlive: 30}
	if configure != nil {
		configure(cp)
	}
	rc := dialRaw(t, addr, cp.Version)
	rc.send(cp)
	ack, ok := rc.read().(*packet.Connack)
	require.True(t, ok, "first packet is CONNACK")
	require.Equal(t, packet.Success, ack.ReasonCode, "CONNACK reason code")
	return rc, ack
}

func (rc *rawClient) send(p packet.Packet) {
	rc.t.Helper()
	b, err := p.AppendTo(nil, rc.v)
	require.NoError(rc.t, err)
	rc.write(b)
}

func (rc *rawClient) write(b []byte) {
	rc.t.Helper()
	_ = rc.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := rc.conn.Write(b)
	require.NoError(rc.t, err)
}

// readErr reads the next packet, waiting at most d.
func (rc *rawClient) readErr(d time.Duration) (packet.Packet, error) {
	_ = rc.conn.SetReadDeadline(time.Now().Add(d))
	return packet.ReadPacket(rc.conn, rc.v, 1<<24)
}

// read returns the next packet or fails the test after 5s.
func (rc *rawClient) read() packet.Packet {
	rc.t.Helper()
	p, err := rc.readErr(5 * time.Second)
	require.NoError(rc.t, err)
	return p
}

// readPublish returns the next packet, which must be a PUBLISH.
func (rc *rawClient) readPublish() *packet.Publish {
	rc.t.Helper()
	p := rc.read()
	pub, ok := p.(*packet.Publish)
	require.True(rc.t, ok, "want PUBLISH, got %s", p.Type())
	return pub
}

// closed reads until the broker closes the connection (within 5s) and
// returns the DISCONNECT it sent before, if any.
func (rc *rawClient) closed() *packet.Disconnect {
	rc.t.Helper()
	var disc *packet.Disconnect
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = rc.conn.SetReadDeadline(deadline)
		p, err := packet.ReadPacket(rc.conn, rc.v, 1<<24)
		if err != nil {
			var ne net.Error
			require.False(rc.t, errors.As(err, &ne) && ne.Timeout(), "connection not closed by the broker within 5s")
			return disc
		}
		if d, ok := p.(*packet.Disconnect); ok {
			disc = d
		}
	}
}

func (rc *rawClient) subscribe(id uint16, subs ...packet.Subscription) *packet.Suback {
	rc.t.Helper()
	rc.send(&packet.Subscribe{PacketID: id, Subscriptions: subs})
	p := rc.read()
	sa, ok := p.(*packet.Suback)
	require.True(rc.t, ok, "want SUBACK, got %s", p.Type())
	require.Equal(rc.t, id, sa.PacketID)
	return sa
}

func (rc *rawClient) ack(t packet.Type, id uint16) {
	rc.t.Helper()
	rc.send(&packet.Ack{PacketType: t, PacketID: id})
}

// events records the broker's events on a channel.
type events struct {
	ch chan msg.Event
}

func recordEvents(t *testing.T, s *broker.Server) *events {
	e := &events{ch: make(chan msg.Event, 10000)}
	remove := s.AddEventHandler(broker.EventHandlerFunc(func(ev msg.Event) { e.ch <- ev }))
	t.Cleanup(remove)
	return e
}

// wait returns the next event of kind about clientID, skipping others.
func (e *events) wait(t *testing.T, kind msg.EventKind, clientID string) msg.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if ev.Kind == kind && ev.ClientID == clientID {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event for %q within 5s", kind, clientID)
		}
	}
}

// setExpiry sets the v5 Session Expiry Interval of a raw CONNECT.
func setExpiry(cp *packet.Connect, secs uint32) {
	cp.Properties.SessionExpiry, cp.Properties.HasSessionExpiry = secs, true
}

func asNetError(err error, ne *net.Error) bool { return errors.As(err, ne) }

// until returns the events before the next one of kind about clientID.
func (e *events) until(t *testing.T, kind msg.EventKind, clientID string) []msg.Event {
	t.Helper()
	var before []msg.Event
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if ev.Kind == kind && ev.ClientID == clientID {
				return before
			}
			before = append(before, ev)
		case <-timeout:
			t.Fatalf("no %s event for %q within 5s", kind, clientID)
		}
	}
}

// offlineSubscriber leaves a persistent session (expiry 300 s) for id,
// subscribed to filter at QoS 1, offline: its messages are queued.
func offlineSubscriber(t *testing.T, ev *events, addr, id, filter string, configure func(*paho.Connect)) {
	t.Helper()
	dev := connectV5(t, addr, id, func(cp *paho.Connect) {
		expiryV5(300, true)(cp)
		if configure != nil {
			configure(cp)
		}
	})
	dev.subscribe(t, paho.SubscribeOptions{Topic: filter, QoS: 1})
	require.NoError(t, dev.Disconnect(&paho.Disconnect{}))
	ev.wait(t, msg.EventClientDisconnected, id)
}
