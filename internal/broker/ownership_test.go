package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// usernameRules is the door-lock ACL written with %u: each user reads the
// commands of the lock of its own name.
const usernameRules = `
allow subscribe devices/%u/command
allow publish devices/%u/state
allow publish username=backend devices/+/command
deny all #
`

// lockBOffline leaves lock B's persistent session (user lock-b, client id
// id) offline, subscribed to its commands (devices/<name>/command), and
// queues the backend's unlock command in it.
func lockBOffline(t *testing.T, s *broker.Server, addr, id, name string) {
	t.Helper()
	ev := recordEvents(t, s)
	offlineSubscriber(t, ev, addr, id, "devices/"+name+"/command", withLogin("lock-b", "pw"))
	out, _, err := s.SendToClient(context.Background(), id, &msg.Message{Topic: "devices/" + name + "/command", QoS: 1,
		Payload: []byte(`{"action":"unlock"}`)})
	require.NoError(t, err)
	require.Equal(t, broker.OutcomeQueued, out)
}

// TestOwnership_hijackRefused is the attack of issue 14: lock A's valid
// credentials with lock B's client id. Lock B's session (offline, then
// online) cannot be resumed, discarded or taken over; lock B then gets its
// command.
func TestOwnership_hijackRefused(t *testing.T) {
	s, addr := secureBroker(t, nil, nil)
	lockBOffline(t, s, addr, "B", "B")

	for _, clean := range []bool{false, true} {
		c, err := dialV5(t, addr, "B", func(cp *paho.Connect) {
			withLogin("lock-a", "pw")(cp)
			expiryV5(300, clean)(cp)
		})
		require.Error(t, err, "clean start %v", clean)
		require.Equal(t, byte(packet.NotAuthorized), c.connack.ReasonCode)
	}
	rc := dialRaw(t, addr, packet.V311)
	rc.send(&packet.Connect{Version: packet.V311, ClientID: "B", KeepAlive: 30,
		UsernameFlag: true, Username: "lock-a", PasswordFlag: true, Password: []byte("pw")})
	ack, ok := rc.read().(*packet.Connack)
	require.True(t, ok)
	require.Equal(t, packet.V311NotAuthorized, ack.ReasonCode)
	require.Equal(t, uint64(3), s.Stats().SessionTakeoversRefused)

	lockB := connectV5(t, addr, "B", func(cp *paho.Connect) {
		withLogin("lock-b", "pw")(cp)
		expiryV5(300, false)(cp)
	})
	require.True(t, lockB.connack.SessionPresent)
	require.JSONEq(t, `{"action":"unlock"}`, string(lockB.next(t).Payload))
	info, ok := s.Client("B")
	require.True(t, ok)
	require.Equal(t, "users/user:lock-b", info.Owner, "the API shows whose session it is")

	// Online: the attacker cannot kick lock B off either.
	_, err := dialV5(t, addr, "B", withLogin("lock-a", "pw"))
	require.Error(t, err)
	backend := connectV5(t, addr, "backend-1", withLogin("backend", "pw"))
	backend.publish(t, &paho.Publish{Topic: "devices/B/command", QoS: 1, Payload: []byte("still here")})
	require.Equal(t, "still here", string(lockB.next(t).Payload))
	require.Equal(t, uint64(4), s.Stats().SessionTakeoversRefused)
}

// TestOwnership_takeoverAllowedStillCannotRead: with AllowSessionTakeover
// and %u rules, a resumed session is authorized again for the identity
// resuming it: lock A gets lock B's session but not its subscription nor
// its queued command (dropped, not_authorized).
func TestOwnership_takeoverAllowedStillCannotRead(t *testing.T) {
	s, addr := testutil.StartBroker(t, withSecurity(t, usernameRules, nil, func(o *broker.Options) {
		o.AllowSessionTakeover = true
	}))
	lockBOffline(t, s, addr, "B", "lock-b")

	a := connectV5(t, addr, "B", func(cp *paho.Connect) {
		withLogin("lock-a", "pw")(cp)
		expiryV5(300, false)(cp)
	})
	require.True(t, a.connack.SessionPresent)
	require.Equal(t, uint64(1), s.Stats().Dropped["not_authorized"], "the queued command")
	subs, _ := s.Subscriptions(broker.SubscriptionQuery{ClientID: "B"})
	require.Empty(t, subs, "devices/lock-b/command is not lock A's to read")
	require.Equal(t, uint64(1), s.Stats().AuthzDeniedSubscribe)
	backend := connectV5(t, addr, "backend-1", withLogin("backend", "pw"))
	backend.publish(t, &paho.Publish{Topic: "devices/lock-b/command", QoS: 1, Payload: []byte("x")})
	a.subscribe(t, paho.SubscribeOptions{Topic: "devices/lock-a/command", QoS: 1})
	backend.publish(t, &paho.Publish{Topic: "devices/lock-a/command", QoS: 1, Payload: []byte("own")})
	require.Equal(t, "own", string(a.next(t).Payload), "nothing of lock B's came first")
}

// TestOwnership_survivesRestart: the owner is kept with the session in the
// store.
func TestOwnership_survivesRestart(t *testing.T) {
	b := testutil.StartStoredBroker(t, t.TempDir(), withSecurity(t, doorLockRules, nil, nil))
	lockBOffline(t, b.Server, b.Addr, "B", "B")
	b.Restart(t)
	_, err := dialV5(t, b.Addr, "B", func(cp *paho.Connect) {
		withLogin("lock-a", "pw")(cp)
		expiryV5(300, false)(cp)
	})
	require.Error(t, err)
	lockB := connectV5(t, b.Addr, "B", func(cp *paho.Connect) {
		withLogin("lock-b", "pw")(cp)
		expiryV5(300, false)(cp)
	})
	require.True(t, lockB.connack.SessionPresent)
	require.JSONEq(t, `{"action":"unlock"}`, string(lockB.next(t).Payload))
}

// TestOwnership_anonymousHubUnchanged: without authentication sessions
// have no owner: any client resumes any session, as before.
func TestOwnership_anonymousHubUnchanged(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	ev := recordEvents(t, s)
	offlineSubscriber(t, ev, addr, "dev", "cmd", func(cp *paho.Connect) { withLogin("one", "x")(cp) })
	c := connectV5(t, addr, "dev", func(cp *paho.Connect) {
		withLogin("other", "y")(cp)
		expiryV5(300, false)(cp)
	})
	require.True(t, c.connack.SessionPresent)
	require.Zero(t, s.Stats().SessionTakeoversRefused)
	testutil.Eventually(t, 5*time.Second, func() bool { ci, ok := s.Client("dev"); return ok && ci.Connected }, "resumed")
}
