//go:build linux

package broker_test

import (
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// openDescriptors counts this process's open file descriptors.
func openDescriptors(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}

// awaitReleased waits until n parked connections of s hold only their
// socket's descriptor.
func awaitReleased(t *testing.T, s *broker.Server, n int64) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() bool { return s.Stats().ReleasedSockets == n },
		fmt.Sprintf("%d sockets released (%+v)", n, s.Stats().ReleasedSockets))
}

// Parked plain TCP connections give their socket back to the runtime and
// still do everything a connection does: they are woken by their packets,
// get deliveries, are pinged, closed by the hub and by the peer; and
// whatever happens to them, no descriptor is left behind.
func TestPark_releasedSockets(t *testing.T) {
	s, addr := testutil.StartBroker(t, parkQuickly)
	ev := recordEvents(t, s)
	base := openDescriptors(t)

	sub := connectV3(t, addr, "rel-sub", nil)
	sub.sub(t, "rel/#", 1)
	const n = 12
	devs := make([]*rawClient, n)
	for i := range devs {
		devs[i], _ = connectRaw(t, addr, fmt.Sprintf("rel-%d", i), func(cp *packet.Connect) { cp.Version = packet.V5 })
	}
	awaitParked(t, s, n+1)
	awaitReleased(t, s, n+1)

	// Woken by a publish (its PUBACK), then delivered to the released
	// subscriber; both park and release again.
	for i, d := range devs {
		d.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: fmt.Sprintf("rel/%d", i), Payload: []byte{byte(i)}})
		ack, ok := d.read().(*packet.Ack)
		require.True(t, ok, "PUBACK from a released connection")
		require.Equal(t, uint16(1), ack.PacketID)
		p := sub.next(t)
		require.Equal(t, fmt.Sprintf("rel/%d", i), p.Topic(), "the delivery reaches its subscriber, in order")
	}
	awaitReleased(t, s, n+1)

	// The hub closes some (kick, takeover), the peers close others.
	require.NoError(t, s.Kick("rel-0"))
	d := devs[0].closed()
	require.NotNil(t, d)
	require.Equal(t, packet.AdministrativeAction, d.ReasonCode)
	again, _ := connectRaw(t, addr, "rel-1", nil)
	d = devs[1].closed()
	require.NotNil(t, d)
	require.Equal(t, packet.SessionTakenOver, d.ReasonCode)
	gone := ev.wait(t, msg.EventClientDisconnected, "rel-1")
	require.NotEmpty(t, gone.SockName, "a released connection still reports its socket's address")
	_ = again.conn.Close()
	for _, d := range devs {
		_ = d.conn.Close()
	}
	sub.Disconnect(100)
	testutil.Eventually(t, 10*time.Second, func() bool {
		st := s.Stats()
		return st.Connections == 0 && st.ParkedConnections == 0 && st.ReleasedSockets == 0
	}, "every connection gone")
	testutil.Eventually(t, 10*time.Second, func() bool { return openDescriptors(t) <= base },
		fmt.Sprintf("no descriptor left behind (%d, was %d)", openDescriptors(t), base))
}

// KeepParkedSockets keeps the net.Conn of a parked connection.
func TestPark_keepParkedSockets(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		parkQuickly(o)
		o.KeepParkedSockets = true
	})
	rc, _ := connectRaw(t, addr, "kept", nil)
	awaitParked(t, s, 1)
	require.Zero(t, s.Stats().ReleasedSockets)
	ping(t, rc)
}

// Connections released and attached again from several goroutines at once
// (wakes, deliveries and kicks racing) never write to another's socket:
// run with -race.
func TestPark_releasedChurn(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) { o.ParkIdleAfter = time.Millisecond })
	base := openDescriptors(t)
	const workers, rounds = 6, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			id := fmt.Sprintf("churn-%d", w)
			for r := range rounds {
				rc, _ := connectRaw(t, addr, id, nil)
				rc.subscribe(1, packet.Subscription{Filter: "own/" + id, QoS: 1})
				rc.send(&packet.Publish{QoS: 1, PacketID: 2, Topic: "own/" + id, Payload: []byte{byte(r)}})
				for range 2 { // its PUBACK and its own message, in either order
					switch p := rc.read().(type) {
					case *packet.Ack:
					case *packet.Publish:
						require.Equal(t, "own/"+id, p.Topic, "only its own messages")
						require.Equal(t, []byte{byte(r)}, p.Payload)
					default:
						t.Errorf("unexpected %T", p)
					}
				}
				if r%3 == 0 {
					_ = s.Kick(id)
				}
				_ = rc.conn.Close()
			}
		})
	}
	wg.Wait()
	testutil.Eventually(t, 10*time.Second, func() bool {
		st := s.Stats()
		return st.Connections == 0 && st.ReleasedSockets == 0
	}, "every connection gone")
	testutil.Eventually(t, 10*time.Second, func() bool { return openDescriptors(t) <= base },
		"no descriptor left behind")
}

// A released connection whose device closes or resets its socket ends at
// its wake without being made a net.Conn again: as any unexpected close
// (reason closed, the will published), and no descriptor left behind.
func TestPark_peerGoneWhileReleased(t *testing.T) {
	tests := []struct {
		name   string
		hangUp func(net.Conn)
	}{
		{"close", func(nc net.Conn) { _ = nc.Close() }},
		{"reset", func(nc net.Conn) {
			_ = nc.(*net.TCPConn).SetLinger(0) // RST instead of FIN
			_ = nc.Close()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := testutil.StartBroker(t, parkQuickly)
			ev := recordEvents(t, s)
			watcher := connectV3(t, addr, "watcher", nil)
			watcher.sub(t, "wills/#", 1)
			base := openDescriptors(t)
			dev, _ := connectRaw(t, addr, "gone-"+tc.name, func(cp *packet.Connect) {
				cp.WillFlag, cp.WillQoS, cp.WillTopic, cp.WillPayload = true, 1, "wills/"+tc.name, []byte("offline")
			})
			awaitReleased(t, s, 2)
			before := s.GoneReleasedForTest()
			tc.hangUp(dev.conn)
			require.Equal(t, "closed", ev.wait(t, msg.EventClientDisconnected, "gone-"+tc.name).Reason)
			will := watcher.next(t)
			require.Equal(t, "wills/"+tc.name, will.Topic())
			require.Equal(t, before+1, s.GoneReleasedForTest(), "ended without attaching the socket")
			testutil.Eventually(t, 10*time.Second, func() bool { return s.Stats().Connections == 1 && s.Stats().ReleasedSockets <= 1 },
				"the device's connection gone")
			testutil.Eventually(t, 10*time.Second, func() bool { return openDescriptors(t) <= base },
				fmt.Sprintf("both ends closed (%d, was %d before the device)", openDescriptors(t), base))
		})
	}
}
