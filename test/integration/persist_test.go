package integration

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// persistEnv lets 10,000 messages wait for one offline subscriber and a
// publisher keep 500 in flight.
var persistEnv = []string{"IOTHUB_MQTT_MAX_QUEUED_MESSAGES=20000", "IOTHUB_MQTT_MAX_INFLIGHT=512"}

// mqttConn is a raw MQTT 5 connection for tests that pipeline packets.
type mqttConn struct {
	t  *testing.T
	nc net.Conn
	mu sync.Mutex // serialises writes
}

func dialMQTT(t *testing.T, addr, clientID string, clean bool, expiry uint32) (*mqttConn, *packet.Connack) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	c := &mqttConn{t: t, nc: nc}
	cp := &packet.Connect{Version: packet.V5, ClientID: clientID, CleanStart: clean, KeepAlive: 120}
	cp.Properties.SessionExpiry, cp.Properties.HasSessionExpiry = expiry, true
	cp.Properties.ReceiveMaximum = 1000
	require.NoError(t, c.send(cp))
	p, err := c.read(10 * time.Second)
	require.NoError(t, err)
	ack, ok := p.(*packet.Connack)
	require.True(t, ok, "CONNACK expected, got %s", p.Type())
	require.Equal(t, packet.Success, ack.ReasonCode)
	return c, ack
}

func (c *mqttConn) send(p packet.Packet) error {
	b, err := p.AppendTo(nil, packet.V5)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = c.nc.Write(b)
	return err
}

func (c *mqttConn) read(d time.Duration) (packet.Packet, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	return packet.ReadPacket(c.nc, packet.V5, 1<<24)
}

// crashPayload is message i's content, checked byte for byte on delivery.
func crashPayload(i int) string {
	return fmt.Sprintf(`{"n":%d,"action":"unlock","nonce_str":"%08x"}`, i, i*2654435761)
}

// publishUntilKilled pipelines n QoS qos messages (at most window
// unacknowledged) and SIGKILLs the hub once killAt were acknowledged
// (PUBACK, or PUBREC for QoS 2). It returns the acknowledged indexes.
func publishUntilKilled(t *testing.T, h *hub, topic string, qos byte, n, window, killAt int) map[int]bool {
	t.Helper()
	pub, _ := dialMQTT(t, h.mqtt, "crash-pub", true, 0)
	acked := map[int]bool{}
	var mu sync.Mutex
	slots := make(chan struct{}, window)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			p, err := pub.read(60 * time.Second)
			if err != nil {
				return // the hub was killed
			}
			a, ok := p.(*packet.Ack)
			if !ok {
				continue
			}
			switch a.PacketType {
			case packet.TypePuback, packet.TypePubrec:
				mu.Lock()
				acked[int(a.PacketID)-1] = true
				count := len(acked)
				mu.Unlock()
				if count == killAt {
					_ = h.cmd.Process.Signal(syscall.SIGKILL)
				}
				if a.PacketType == packet.TypePubrec {
					_ = pub.send(&packet.Ack{PacketType: packet.TypePubrel, PacketID: a.PacketID})
					continue
				}
				<-slots
			case packet.TypePubcomp:
				<-slots
			}
		}
	}()
	for i := range n {
		select {
		case slots <- struct{}{}:
		case <-readerDone:
		}
		if err := pub.send(&packet.Publish{Topic: topic, QoS: qos, PacketID: uint16(i + 1), Payload: []byte(crashPayload(i))}); err != nil {
			break
		}
	}
	select {
	case <-h.exited:
	case <-time.After(120 * time.Second):
		t.Fatal("the hub was not killed: fewer acknowledgements than expected")
	}
	<-readerDone
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(acked), killAt)
	return acked
}

// receiveAll reconnects the persistent subscriber, publishes a marker after
// the queue, and returns how often each message index arrived before it.
func receiveAll(t *testing.T, h *hub, clientID, topic string, qos byte) map[int]int {
	t.Helper()
	sub, ack := dialMQTT(t, h.mqtt, clientID, false, 3600)
	require.True(t, ack.SessionPresent, "the session survived the crash")
	marker, _ := dialMQTT(t, h.mqtt, "crash-marker", true, 0)
	require.NoError(t, marker.send(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Payload: []byte("marker")}))
	got := map[int]int{}
	for {
		p, err := sub.read(60 * time.Second)
		require.NoError(t, err, "the subscriber received %d messages, then nothing", len(got))
		switch p := p.(type) {
		case *packet.Publish:
			if string(p.Payload) == "marker" {
				return got
			}
			var i int
			_, err := fmt.Sscanf(string(p.Payload), `{"n":%d,`, &i)
			require.NoError(t, err, "payload %q", p.Payload)
			require.Equal(t, crashPayload(i), string(p.Payload), "content intact")
			require.Equal(t, qos, p.QoS)
			got[i]++
			if p.QoS == 1 {
				require.NoError(t, sub.send(&packet.Ack{PacketType: packet.TypePuback, PacketID: p.PacketID}))
			} else {
				require.NoError(t, sub.send(&packet.Ack{PacketType: packet.TypePubrec, PacketID: p.PacketID}))
			}
		case *packet.Ack:
			if p.PacketType == packet.TypePubrel {
				require.NoError(t, sub.send(&packet.Ack{PacketType: packet.TypePubcomp, PacketID: p.PacketID}))
			}
		}
	}
}

// TestPersist_crashLosesNoAcknowledgedMessage: a persistent subscriber is
// offline; a publisher pipelines QoS 1 (then QoS 2) messages; the hub is
// killed with SIGKILL in the middle and restarted on the same data
// directory: every acknowledged message is delivered, with its content,
// none twice (QoS 2: exactly once).
func TestPersist_crashLosesNoAcknowledgedMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name           string
		qos            byte
		n, win, killAt int
	}{
		{"qos1", 1, 10000, 500, 4000},
		{"qos2", 2, 1000, 30, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := startHubIn(t, dir, persistEnv)
			topic := "devices/lock-crash/command"
			sub, _ := dialMQTT(t, h.mqtt, "lock-crash", true, 3600)
			require.NoError(t, sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: topic, QoS: tc.qos}}}))
			p, err := sub.read(10 * time.Second)
			require.NoError(t, err)
			require.Equal(t, packet.TypeSuback, p.Type())
			require.NoError(t, sub.send(&packet.Disconnect{}))

			acked := publishUntilKilled(t, h, topic, tc.qos, tc.n, tc.win, tc.killAt)
			h2 := startHubIn(t, dir, persistEnv)
			require.Contains(t, h2.logs.String(), "store recovered")
			got := receiveAll(t, h2, "lock-crash", topic, tc.qos)
			for i := range acked {
				require.Equal(t, 1, got[i], "acknowledged message %d delivered exactly once", i)
			}
			for i, k := range got {
				require.Equal(t, 1, k, "message %d delivered %d times", i, k)
			}
			t.Logf("%s: %d acknowledged before SIGKILL, %d delivered after the restart", tc.name, len(acked), len(got))
		})
	}
}

// TestPersist_corruptStoreRefused: a store with a garbage file stops the
// hub with exit status 1 and an error naming the directory; nothing is
// deleted.
func TestPersist_corruptStoreRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startHubIn(t, dir, nil)
	h.stop(t)
	store := filepath.Join(dir, "store")
	ents, err := os.ReadDir(store)
	require.NoError(t, err)
	var manifest string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "MANIFEST-") {
			manifest = filepath.Join(store, e.Name())
		}
	}
	require.NotEmpty(t, manifest)
	require.NoError(t, os.WriteFile(manifest, []byte("garbage, not a manifest"), 0o644))

	var out bytes.Buffer
	cmd := exec.Command(hubBinary, "serve", "--mqtt-addr", freePort(t), "--ws-addr", freePort(t), "--api-addr", freePort(t), "--data-dir", dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "the hub refuses to start; output:\n%s", out.String())
	require.Equal(t, 1, ee.ExitCode())
	require.Contains(t, out.String(), "the store in "+store+" cannot be read")
	require.Contains(t, out.String(), "malformed manifest")
	after, err := os.ReadFile(manifest)
	require.NoError(t, err)
	require.Equal(t, "garbage, not a manifest", string(after), "the store is left as it was")
}
