package cluster

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/auth/users"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// TestMayTakeOver: a claim takes a registered session over only for the
// same owner, an unowned session, or when takeovers are allowed.
func TestMayTakeOver(t *testing.T) {
	b := `{"owner":"users/user:lock-b","session":{"proto":5}}`
	tests := []struct {
		name, registered, claim string
		ok                      bool
	}{
		{"same owner", b, `{"owner":"users/user:lock-b"}`, true},
		{"another owner", b, `{"owner":"users/user:lock-a"}`, false},
		{"anonymous", b, `{}`, false},
		{"takeover allowed", b, `{"owner":"users/user:lock-a","takeover":true}`, true},
		{"unowned session", `{"session":{"proto":5}}`, `{"owner":"users/user:lock-a"}`, true},
		{"no record", ``, `{"owner":"users/user:lock-a"}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mayTakeOver([]byte(tc.registered), []byte(tc.claim))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, auth.ErrSessionOwned)
			require.Contains(t, err.Error(), "users/user:lock-b")
		})
	}
}

// TestCluster_takeoverAcrossNodesNeedsTheOwner: lock B's persistent
// session lives on n1; lock A's valid credentials with lock B's client id
// on n2 are refused (0x87) and change nothing: lock B's queued command
// is still delivered when lock B comes back on n2.
func TestCluster_takeoverAcrossNodesNeedsTheOwner(t *testing.T) {
	store, err := users.Open(users.Options{Cost: bcrypt.MinCost})
	require.NoError(t, err)
	for _, u := range []string{"lock-a", "lock-b"} {
		require.NoError(t, store.Add(u, "pw", false))
	}
	nodes := startClusterWith(t, 2, func(o *broker.Options) {
		o.Authenticator = &auth.AuthnChain{Authenticators: []auth.Authenticator{store}}
	})
	waitReady(t, nodes)
	login := func(addr, user, id string) (*paho.Client, *paho.Connack, <-chan *paho.Publish, error) {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		got := make(chan *paho.Publish, 10)
		c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {},
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				got <- pr.Packet
				return true, nil
			}}})
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		expiry := uint32(300)
		ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, Username: user, UsernameFlag: true,
			Password: []byte("pw"), PasswordFlag: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
		t.Cleanup(func() { _ = nc.Close() })
		return c, ack, got, err
	}
	b, _, _, err := login(nodes[0].addr, "lock-b", "B")
	require.NoError(t, err)
	_, err = b.Subscribe(t.Context(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/B/command", QoS: 1}}})
	require.NoError(t, err)
	require.NoError(t, b.Disconnect(&paho.Disconnect{}))
	testutil.Eventually(t, 15*time.Second, func() bool { exists, connected := nodes[0].b.HasSession("B"); return exists && !connected }, "B offline on n1")
	out, _, err := nodes[0].b.SendToClient(t.Context(), "B", &msg.Message{Topic: "devices/B/command", QoS: 1, Payload: []byte("unlock")})
	require.NoError(t, err)
	require.Equal(t, broker.OutcomeQueued, out)

	_, ack, _, err := login(nodes[1].addr, "lock-a", "B")
	require.Error(t, err)
	require.Equal(t, byte(0x87), ack.ReasonCode)
	require.Equal(t, uint64(1), nodes[1].b.Stats().SessionTakeoversRefused)
	exists, _ := nodes[0].b.HasSession("B")
	require.True(t, exists, "n1 still holds lock B's session")

	_, ack, got, err := login(nodes[1].addr, "lock-b", "B")
	require.NoError(t, err)
	require.True(t, ack.SessionPresent)
	select {
	case p := <-got:
		require.Equal(t, "unlock", string(p.Payload))
	case <-time.After(15 * time.Second):
		t.Fatal("lock B's queued command not delivered after its own takeover")
	}
}

// testCluster_releasedEntryLeavesNothing: a clean session's registry entry
// is purged when it ends, and its marker expires, so the registry's stream
// holds nothing of a client id that went away (a delete marker used to
// stay for good: memory on every node per client id ever seen).
func testCluster_releasedEntryLeavesNothing(t *testing.T, nodes []*testNode) {
	c := connect(t, nodes[0].addr, "passer-by", true)
	key := registryKey("passer-by")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := nodes[1].node.st.sessions.Get(ctx, key)
	require.NoError(t, err, "registered while connected")
	subject := "$KV." + bucketSessions + "." + key
	s, err := nodes[2].node.st.js.Stream(ctx, "KV_"+bucketSessions)
	require.NoError(t, err)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.Subjects[subject], "the entry is in the stream")
	c.Disconnect(100)
	testutil.Eventually(t, 30*time.Second, func() bool {
		_, err := nodes[1].node.st.sessions.Get(ctx, key)
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return false // still registered, or its marker still there
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
		return err == nil && info.State.Subjects[subject] == 0
	}, "the released entry and its marker are gone from the registry")
}
