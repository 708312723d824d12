package device

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/internal/device/thing"
	"github.com/iothub-dev/iothub/msg"
)

func TestThingACL(t *testing.T) {
	rules, err := auth.ParseRules("allow all username=backend $aws/things/+/shadow/#\ndeny subscribe client_id=lock-2 $aws/things/lock-2/jobs/#\nallow all #\n")
	require.NoError(t, err)
	acl, err := auth.NewACL(rules)
	require.NoError(t, err)
	a := &ThingACL{Chain: &auth.AuthzChain{Authorizers: []auth.Authorizer{auth.IdentityRules{}, acl}, Default: auth.Allow}}
	lock1 := &auth.Identity{ClientID: "lock-1"}
	lock2 := &auth.Identity{ClientID: "lock-2"}
	backend := &auth.Identity{ClientID: "svc", Username: "backend"}
	root := &auth.Identity{ClientID: "root", Superuser: true}
	tests := []struct {
		name   string
		id     *auth.Identity
		action auth.Action
		topic  string
		want   auth.Decision
	}{
		{"own shadow", lock1, auth.ActionPublish, "$aws/things/lock-1/shadow/update", auth.Allow},
		{"own topics by filter", lock1, auth.ActionSubscribe, "$aws/things/lock-1/shadow/#", auth.Allow},
		{"another thing", lock1, auth.ActionPublish, "$aws/things/lock-2/shadow/update", auth.Deny},
		{"another thing's answers", lock1, auth.ActionSubscribe, "$aws/things/lock-2/shadow/get/accepted", auth.Deny},
		{"every thing", lock1, auth.ActionSubscribe, "$aws/things/+/shadow/update/accepted", auth.Deny},
		{"events", lock1, auth.ActionSubscribe, "$aws/events/thing/+/created", auth.Deny},
		{"explicit deny beats own", lock2, auth.ActionSubscribe, "$aws/things/lock-2/jobs/notify-next", auth.Deny},
		{"backend rule", backend, auth.ActionSubscribe, "$aws/things/+/shadow/update/documents", auth.Allow},
		{"backend without a rule", backend, auth.ActionSubscribe, "$aws/things/+/jobs/notify", auth.Deny},
		{"superuser", root, auth.ActionSubscribe, "$aws/#", auth.Allow},
		{"other topics use the ACL", lock1, auth.ActionPublish, "devices/lock-1/state", auth.Allow},
		{"no identity", nil, auth.ActionPublish, "$aws/things/x/shadow/get", auth.Deny},
		{"a client named +", &auth.Identity{ClientID: "+"}, auth.ActionSubscribe, "$aws/things/+/shadow/#", auth.Deny},
		{"a client named + by jobs", &auth.Identity{ClientID: "+"}, auth.ActionSubscribe, "$aws/things/+/jobs/notify-next", auth.Deny},
		{"a client named #", &auth.Identity{ClientID: "#"}, auth.ActionSubscribe, "$aws/things/#", auth.Deny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, a.Authorize(context.Background(), tc.id, tc.action, tc.topic))
		})
	}
}

// TestThingACL_FilterAccess: outside "$aws/" a filter a deny rule overlaps
// is read in part (checked per message); on "$aws/" a filter is all or
// nothing, as Authorize says.
func TestThingACL_FilterAccess(t *testing.T) {
	rules, err := auth.ParseRules("deny subscribe devices/secret\nallow all username=backend $aws/things/+/shadow/#")
	require.NoError(t, err)
	acl, err := auth.NewACL(rules)
	require.NoError(t, err)
	a := &ThingACL{Chain: &auth.AuthzChain{Authorizers: []auth.Authorizer{auth.IdentityRules{}, acl}, Default: auth.Allow}}
	lock1 := &auth.Identity{ClientID: "lock-1"}
	backend := &auth.Identity{ClientID: "svc", Username: "backend"}
	tests := []struct {
		id     *auth.Identity
		filter string
		want   auth.Access
	}{
		{lock1, "devices/+", auth.ReadSome},
		{lock1, "devices/secret", auth.ReadNone},
		{lock1, "other/#", auth.ReadAll},
		{lock1, "$aws/things/lock-1/shadow/#", auth.ReadAll},
		{lock1, "$aws/things/+/shadow/#", auth.ReadNone},
		{backend, "$aws/things/+/shadow/#", auth.ReadAll},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, a.FilterAccess(context.Background(), tc.id, tc.filter), tc.filter)
	}
}

type fakeService struct{ got []string }

func (f *fakeService) HandlesTopic(t thing.Topic) bool { return t.Rest == "update" }
func (f *fakeService) HandleMessage(t thing.Topic, m *msg.Message) {
	f.got = append(f.got, t.Thing+" "+m.Topic)
}

func TestDispatcher(t *testing.T) {
	f := &fakeService{}
	d := NewDispatcher(map[string]Service{"shadow": f})
	require.True(t, d.HandlesTopic("$aws/things/a/shadow/update"))
	require.False(t, d.HandlesTopic("$aws/things/a/shadow/update/accepted"))
	require.False(t, d.HandlesTopic("$aws/things/a/jobs/get"))
	require.False(t, d.HandlesTopic("$aws/things/a b/shadow/update"))
	require.False(t, d.HandlesTopic("$SYS/broker/uptime"))
	d.HandleMessage(&msg.Message{Topic: "$aws/things/a/shadow/update"})
	d.HandleMessage(&msg.Message{Topic: "$aws/things/a/shadow/get"})
	require.Equal(t, []string{"a $aws/things/a/shadow/update"}, f.got)
}
