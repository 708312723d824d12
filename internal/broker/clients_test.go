package broker_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
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
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	vc := &v5Client{msgs: make(chan *paho.Publish, 10000), discs: make(chan *paho.Disconnect, 4)}
	vc.Client = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				vc.msgs <- pr.Packet
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) { vc.discs <- d },
		OnClientError:      func(error) {},
	})
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
