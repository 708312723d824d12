package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/auth/users"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// doorLockRules is the reference door-lock ACL: each lock publishes its own
// state and reads its own commands; the backend user does the opposite for
// every lock.
const doorLockRules = `
allow publish devices/%c/state
allow subscribe devices/%c/command
allow publish username=backend devices/+/command
allow subscribe username=backend devices/+/state
deny all #
`

// secureBroker starts a broker whose users are lock-a, lock-b (password
// "pw") and backend ("pw"), with the door-lock ACL and the given ban list.
func secureBroker(t *testing.T, bans *auth.BanList, configure func(*broker.Options)) (*broker.Server, string) {
	t.Helper()
	return testutil.StartBroker(t, withSecurity(t, doorLockRules, bans, configure))
}

// withSecurity configures the users lock-a, lock-b and backend (password
// "pw"), the ACL rules (default deny) and the ban list, then configure.
func withSecurity(t *testing.T, rules string, bans *auth.BanList, configure func(*broker.Options)) func(*broker.Options) {
	t.Helper()
	store, err := users.Open(users.Options{Cost: bcrypt.MinCost})
	require.NoError(t, err)
	for _, u := range []string{"lock-a", "lock-b", "backend"} {
		require.NoError(t, store.Add(u, "pw", false))
	}
	parsed, err := auth.ParseRules(rules)
	require.NoError(t, err)
	acl, err := auth.NewACL(parsed)
	require.NoError(t, err)
	return func(o *broker.Options) {
		o.Authenticator = &auth.AuthnChain{Authenticators: []auth.Authenticator{store}, Bans: bans}
		o.Authorizer = &auth.AuthzChain{Authorizers: []auth.Authorizer{auth.IdentityRules{}, acl}, Default: auth.Deny}
		if configure != nil {
			configure(o)
		}
	}
}

func withLogin(user, pass string) func(*paho.Connect) {
	return func(c *paho.Connect) {
		c.Username, c.UsernameFlag = user, true
		c.Password, c.PasswordFlag = []byte(pass), true
	}
}

func TestAuth_doorLockV5(t *testing.T) {
	s, addr := secureBroker(t, nil, nil)
	lockA := connectV5(t, addr, "A", withLogin("lock-a", "pw"))
	backend := connectV5(t, addr, "backend-1", withLogin("backend", "pw"))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// devices/B/command can match nothing lock A may read: refused.
	// devices/+/command matches its own commands too: granted, and only
	// those are delivered (below).
	sa, err := lockA.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "devices/A/command", QoS: 1}, {Topic: "devices/B/command", QoS: 1}, {Topic: "devices/+/command", QoS: 1}}})
	require.Error(t, err, "paho reports the refused filters")
	require.Equal(t, []byte{1, byte(packet.NotAuthorized), 1}, sa.Reasons)
	sa = backend.subscribe(t, paho.SubscribeOptions{Topic: "devices/+/state", QoS: 1})
	require.Equal(t, []byte{1}, sa.Reasons)

	// Lock A may not publish lock B's state: PUBACK 0x87, and the backend
	// gets only A's own state, which was published after.
	r, err := lockA.Publish(ctx, &paho.Publish{Topic: "devices/B/state", QoS: 1, Payload: []byte(`{"lock_state":0}`)})
	require.Error(t, err)
	require.Equal(t, byte(packet.NotAuthorized), r.ReasonCode)
	r = lockA.publish(t, &paho.Publish{Topic: "devices/A/state", QoS: 1, Payload: []byte(`{"lock_state":1}`)})
	require.Less(t, r.ReasonCode, byte(0x80))
	got := backend.next(t)
	require.Equal(t, "devices/A/state", got.Topic)

	// The backend's command reaches lock A, lock B's does not.
	backend.publish(t, &paho.Publish{Topic: "devices/B/command", QoS: 1, Payload: []byte(`{"action":"unlock"}`)})
	backend.publish(t, &paho.Publish{Topic: "devices/A/command", QoS: 1, Payload: []byte(`{"action":"unlock"}`)})
	require.Equal(t, "devices/A/command", lockA.next(t).Topic)

	st := s.Stats()
	require.Equal(t, uint64(1), st.AuthzDeniedPublish)
	require.Equal(t, uint64(1), st.AuthzDeniedSubscribe)
	require.Equal(t, uint64(1), st.AuthzDeniedRead, "lock B's command, not delivered through devices/+/command")
	require.Equal(t, uint64(2), st.AuthSucceeded)
}

func TestAuth_connectRefusedV5(t *testing.T) {
	bans := auth.NewBanList()
	s, addr := secureBroker(t, bans, nil)
	require.NoError(t, bans.Add(auth.Ban{Kind: auth.BanClientID, Value: "stolen-lock"}))
	tests := []struct {
		name     string
		clientID string
		login    func(*paho.Connect)
		code     packet.ReasonCode
	}{
		{"wrong password", "A", withLogin("lock-a", "nope"), packet.BadUsernameOrPassword},
		{"unknown user", "A", withLogin("mallory", "pw"), packet.BadUsernameOrPassword},
		{"anonymous", "A", nil, packet.NotAuthorized},
		{"banned client id", "stolen-lock", withLogin("lock-a", "pw"), packet.Banned},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialV5(t, addr, tc.clientID, tc.login)
			require.Error(t, err)
			require.NotNil(t, c.connack)
			require.Equal(t, byte(tc.code), c.connack.ReasonCode)
		})
	}
	require.Equal(t, uint64(4), s.Stats().AuthFailed)

	// A will on a topic the client may not publish refuses the CONNECT.
	_, err := dialV5(t, addr, "A", func(c *paho.Connect) {
		withLogin("lock-a", "pw")(c)
		c.WillMessage = &paho.WillMessage{Topic: "devices/B/state", Payload: []byte("x")}
	})
	require.Error(t, err)
}

func TestAuth_banAddress(t *testing.T) {
	bans := auth.NewBanList()
	_, addr := secureBroker(t, bans, nil)
	connectV5(t, addr, "A", withLogin("lock-a", "pw")) // allowed before the ban
	require.NoError(t, bans.Add(auth.Ban{Kind: auth.BanAddress, Value: "127.0.0.0/8", Until: time.Now().Add(time.Hour)}))
	c, err := dialV5(t, addr, "A", withLogin("lock-a", "pw"))
	require.Error(t, err)
	require.Equal(t, byte(packet.Banned), c.connack.ReasonCode)

	rc := dialRaw(t, addr, packet.V311)
	rc.send(&packet.Connect{Version: packet.V311, ClientID: "A", CleanStart: true, KeepAlive: 30,
		UsernameFlag: true, Username: "lock-a", PasswordFlag: true, Password: []byte("pw")})
	ack, ok := rc.read().(*packet.Connack)
	require.True(t, ok)
	require.Equal(t, packet.V311NotAuthorized, ack.ReasonCode)
}

func TestAuth_doorLockV311(t *testing.T) {
	s, addr := secureBroker(t, nil, nil)
	login := func(user string) func(*mqtt3.ClientOptions) {
		return func(o *mqtt3.ClientOptions) { o.SetUsername(user).SetPassword("pw") }
	}
	lockA := connectV3(t, addr, "A", login("lock-a"))
	backend := connectV3(t, addr, "backend-1", login("backend"))

	tok := lockA.Subscribe("devices/B/command", 1, nil)
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.Equal(t, byte(0x80), tok.(*mqtt3.SubscribeToken).Result()["devices/B/command"])
	lockA.sub(t, "devices/A/command", 1)
	backend.sub(t, "devices/+/state", 1)

	lockA.pub(t, "devices/B/state", 1, false, "forged") // acknowledged, dropped
	lockA.pub(t, "devices/A/state", 1, false, "own")
	m := backend.next(t)
	require.Equal(t, "devices/A/state", m.Topic())
	require.Equal(t, "own", string(m.Payload()))
	backend.pub(t, "devices/A/command", 1, false, "unlock")
	require.Equal(t, "unlock", string(lockA.next(t).Payload()))
	require.Equal(t, uint64(1), s.Stats().AuthzDeniedPublish)

	o := mqtt3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("A").SetProtocolVersion(4).
		SetUsername("lock-a").SetPassword("wrong").SetAutoReconnect(false)
	c := mqtt3.NewClient(o)
	ct := c.Connect()
	require.True(t, ct.WaitTimeout(5*time.Second))
	require.ErrorIs(t, ct.Error(), packets.ErrorRefusedBadUsernameOrPassword)
}

func TestAuth_reloadAndDisconnectOnDeny(t *testing.T) {
	s, addr := secureBroker(t, nil, func(o *broker.Options) { o.DisconnectOnDeny = true })
	lockA := connectV5(t, addr, "A", withLogin("lock-a", "pw"))
	require.Equal(t, []byte{1}, lockA.subscribe(t, paho.SubscribeOptions{Topic: "devices/A/command", QoS: 1}).Reasons)

	// New rules: nothing is allowed any more. The cached decision for
	// devices/A/command is dropped.
	denyAll, err := auth.ParseRules("deny all #")
	require.NoError(t, err)
	acl, err := auth.NewACL(denyAll)
	require.NoError(t, err)
	s.SetAuth(nil, &auth.AuthzChain{Authorizers: []auth.Authorizer{acl}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, _ := lockA.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/A/command", QoS: 1}}})
	require.Equal(t, []byte{byte(packet.NotAuthorized)}, sa.Reasons)

	// A refused publish disconnects (DisconnectOnDeny).
	_, _ = lockA.Publish(ctx, &paho.Publish{Topic: "devices/A/state", QoS: 1, Payload: []byte("x")})
	select {
	case d := <-lockA.discs:
		require.Equal(t, byte(packet.NotAuthorized), d.ReasonCode)
	case <-time.After(5 * time.Second):
		t.Fatal("no DISCONNECT")
	}
}

func TestRateLimit_v5QuotaExceeded(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		// Three messages, then one every 1000 s: the fourth is refused.
		o.RateLimits.ClientMessages = broker.Rate{PerSecond: 0.001, Burst: 3}
	})
	c := connectV5(t, addr, "fast", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var codes []byte
	for range 5 {
		r, _ := c.Publish(ctx, &paho.Publish{Topic: "t", QoS: 1, Payload: []byte("x")})
		require.NotNil(t, r)
		codes = append(codes, r.ReasonCode)
	}
	nm := byte(packet.NoMatchingSubscribers)
	q := byte(packet.QuotaExceeded)
	require.Equal(t, []byte{nm, nm, nm, q, q}, codes)
	require.Equal(t, uint64(2), s.Stats().PublishRateLimited)
}

// TestRateLimit_v311Slowed: a 3.1.1 client over its limit is slowed, not
// refused: every message arrives, and the limiter counts the delays.
func TestRateLimit_v311Slowed(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		o.RateLimits.Listeners = map[string]broker.ListenerRates{"tcp": {Messages: broker.Rate{PerSecond: 20, Burst: 1}}}
	})
	sub := connectV3(t, addr, "sub", nil)
	sub.sub(t, "t", 1)
	pub := connectV3(t, addr, "pub", nil)
	for i := range 5 {
		pub.pub(t, "t", 1, false, string(rune('a'+i)))
	}
	for i := range 5 {
		require.Equal(t, string(rune('a'+i)), string(sub.next(t).Payload()))
	}
	require.GreaterOrEqual(t, s.Stats().PublishRateLimited, uint64(1))
}

func TestRateLimit_connections(t *testing.T) {
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		o.RateLimits.Listeners = map[string]broker.ListenerRates{"tcp": {Connections: broker.Rate{PerSecond: 4, Burst: 1}}}
	})
	for i := range 3 {
		connectV5(t, addr, string(rune('a'+i)), nil)
	}
	require.GreaterOrEqual(t, s.Stats().ConnectionRateLimited, uint64(1))
}
