package registry

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
	"github.com/iothub-dev/iothub/storage/memstore"
)

func newRegistry(t *testing.T) *Registry {
	t.Helper()
	return New(Options{Store: memstore.New(), BcryptCost: bcrypt.MinCost})
}

func ptr[T any](v T) *T { return &v }

func TestRegistry_CRUDAndList(t *testing.T) {
	r := newRegistry(t)
	for _, id := range []string{"lock-1", "lock-2", "lock-3", "remote-1"} {
		_, err := r.Create(Spec{ID: id, Groups: ptr([]string{"fleet"}), Attributes: ptr(map[string]string{"model": "L" + id[len(id)-1:]})})
		require.NoError(t, err)
	}
	_, err := r.Create(Spec{ID: "lock-1"})
	require.ErrorIs(t, err, ErrExists)
	_, err = r.Create(Spec{ID: "bad/id"})
	require.ErrorIs(t, err, ErrInvalid)

	d, err := r.Update(Spec{ID: "lock-2", Enabled: ptr(false), Groups: ptr([]string{"beta", "fleet", "beta"})})
	require.NoError(t, err)
	require.Equal(t, int64(2), d.Version)
	require.Equal(t, []string{"beta", "fleet"}, d.Groups)

	page, more, err := r.List(Filter{Prefix: "lock-"}, "", 2)
	require.NoError(t, err)
	require.True(t, more)
	require.Equal(t, []string{"lock-1", "lock-2"}, ids(page))
	page, more, err = r.List(Filter{Prefix: "lock-"}, "lock-2", 2)
	require.NoError(t, err)
	require.False(t, more)
	require.Equal(t, []string{"lock-3"}, ids(page))

	page, _, err = r.List(Filter{Group: "beta"}, "", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"lock-2"}, ids(page))
	page, _, err = r.List(Filter{Enabled: ptr(true), Attributes: map[string]string{"model": "L1"}}, "", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"lock-1", "remote-1"}, ids(page))

	members, err := r.Members("fleet")
	require.NoError(t, err)
	require.Len(t, members, 4)
	require.NoError(t, r.Delete("lock-2"))
	members, err = r.Members("beta")
	require.NoError(t, err)
	require.Empty(t, members)
	require.ErrorIs(t, r.Delete("lock-2"), ErrNotFound)
}

func ids(in []Info) []string {
	var out []string
	for _, i := range in {
		out = append(out, i.ID)
	}
	return out
}

func TestRegistry_statusFromEvents(t *testing.T) {
	r := newRegistry(t)
	_, err := r.Create(Spec{ID: "lock-1"})
	require.NoError(t, err)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r.HandleEvent(msg.Event{Kind: msg.EventClientConnected, ClientID: "lock-1", Node: "n1", Time: at})
	r.HandleEvent(msg.Event{Kind: msg.EventClientConnected, ClientID: "stranger", Node: "n1", Time: at})
	info, err := r.Info("lock-1")
	require.NoError(t, err)
	require.Equal(t, Status{Connected: true, Node: "n1", LastSeen: at}, info.Status)
	page, _, err := r.List(Filter{Connected: ptr(true)}, "", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"lock-1"}, ids(page))
	r.HandleEvent(msg.Event{Kind: msg.EventClientDisconnected, ClientID: "lock-1", Node: "n1", Time: at.Add(time.Minute)})
	info, err = r.Info("lock-1")
	require.NoError(t, err)
	require.False(t, info.Connected)
	require.Equal(t, at.Add(time.Minute), info.LastSeen)
	_, err = r.Info("stranger")
	require.ErrorIs(t, err, ErrNotFound)

	// A restart of node n1 marks its devices disconnected.
	r.HandleEvent(msg.Event{Kind: msg.EventClientConnected, ClientID: "lock-1", Node: "n1", Time: at})
	require.NoError(t, r.MarkDisconnected("n2"))
	info, _ = r.Info("lock-1")
	require.True(t, info.Connected, "another node's devices are left alone")
	require.NoError(t, r.MarkDisconnected("n1"))
	info, _ = r.Info("lock-1")
	require.False(t, info.Connected)
	require.Equal(t, at, info.LastSeen)
}

func TestAuthenticator(t *testing.T) {
	r := newRegistry(t)
	fp := strings.Repeat("ab", 32)
	_, err := r.Create(Spec{ID: "pw", Password: ptr("s3cret")})
	require.NoError(t, err)
	_, err = r.Create(Spec{ID: "cert", CertFingerprint: ptr(strings.ToUpper(strings.Repeat("ab:", 31) + "ab"))})
	require.NoError(t, err)
	_, err = r.Create(Spec{ID: "open"})
	require.NoError(t, err)
	_, err = r.Create(Spec{ID: "off", Enabled: ptr(false)})
	require.NoError(t, err)
	a := Authenticator{R: r}
	tests := []struct {
		name string
		ci   auth.ConnectInfo
		dec  auth.Decision
		code packet.ReasonCode
	}{
		{"password", auth.ConnectInfo{ClientID: "pw", Password: []byte("s3cret")}, auth.Allow, 0},
		{"password again (cached)", auth.ConnectInfo{ClientID: "pw", Password: []byte("s3cret")}, auth.Allow, 0},
		{"wrong password", auth.ConnectInfo{ClientID: "pw", Password: []byte("nope")}, auth.Deny, packet.BadUsernameOrPassword},
		{"no password", auth.ConnectInfo{ClientID: "pw"}, auth.Deny, packet.BadUsernameOrPassword},
		{"certificate", auth.ConnectInfo{ClientID: "cert", CertFingerprint: fp}, auth.Allow, 0},
		{"other certificate", auth.ConnectInfo{ClientID: "cert", CertFingerprint: strings.Repeat("cd", 32)}, auth.Deny, packet.BadUsernameOrPassword},
		{"no credentials registered", auth.ConnectInfo{ClientID: "open"}, auth.NoOpinion, 0},
		{"disabled", auth.ConnectInfo{ClientID: "off"}, auth.Deny, packet.NotAuthorized},
		{"not registered", auth.ConnectInfo{ClientID: "x", Password: []byte("s3cret")}, auth.NoOpinion, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := a.Authenticate(context.Background(), &tc.ci)
			require.Equal(t, tc.dec, res.Decision, res.Reason)
			require.Equal(t, tc.code, res.Code)
			if res.Decision == auth.Allow {
				require.Equal(t, "devices", res.Identity.Authenticator)
			}
		})
	}
	// A new password invalidates what was remembered.
	_, err = r.Update(Spec{ID: "pw", Password: ptr("n3w")})
	require.NoError(t, err)
	require.Equal(t, auth.Deny, a.Authenticate(context.Background(), &auth.ConnectInfo{ClientID: "pw", Password: []byte("s3cret")}).Decision)
}

func TestImport(t *testing.T) {
	r := newRegistry(t)
	csvIn := "id,enabled,groups,attr.model,cert_fingerprint\n" +
		"lock-1,true,fleet;beta,L1,\n" +
		"lock-2,false,fleet,L2,\n" +
		"bad id,true,,,\n" +
		"lock-3,maybe,,,\n"
	res, err := r.Import(strings.NewReader(csvIn), "csv", false)
	require.NoError(t, err)
	require.Equal(t, 2, res.Created)
	require.Len(t, res.Failed, 2)
	require.Equal(t, 4, res.Failed[0].Line)
	require.Equal(t, 5, res.Failed[1].Line)
	d, err := r.Get("lock-1")
	require.NoError(t, err)
	require.Equal(t, []string{"beta", "fleet"}, d.Groups)
	require.Equal(t, "L1", d.Attributes["model"])

	jl := `{"id":"lock-2","enabled":true}` + "\n\n" + `{"id":"lock-4","groups":["fleet"]}` + "\n" + `{"id":"lock-5","colour":"red"}` + "\n"
	res, err = r.Import(strings.NewReader(jl), "jsonl", true)
	require.NoError(t, err)
	require.Equal(t, ImportResult{Created: 1, Updated: 1, Failed: res.Failed}, res)
	require.Len(t, res.Failed, 1)
	require.Equal(t, 4, res.Failed[0].Line)
	d, err = r.Get("lock-2")
	require.NoError(t, err)
	require.True(t, d.Enabled)
	require.Equal(t, "L2", d.Attributes["model"], "an upsert leaves unnamed fields")

	_, err = r.Import(strings.NewReader("id,colour\nx,red\n"), "csv", false)
	require.ErrorIs(t, err, ErrInvalid)
}

// A registry follows connections only once it has a device: found in the
// store when it starts, or created since (then it records the status).
func TestRegistry_wantsConnectionEventsOnceItHasADevice(t *testing.T) {
	st := memstore.New()
	r := New(Options{Store: st, BcryptCost: bcrypt.MinCost})
	for _, kind := range []msg.EventKind{msg.EventClientConnected, msg.EventClientDisconnected} {
		require.False(t, r.WantsEvent(kind), "no device yet: %v", kind)
	}
	_, err := r.Create(Spec{ID: "lock-1"})
	require.NoError(t, err)
	require.True(t, r.WantsEvent(msg.EventClientConnected))
	require.True(t, r.WantsEvent(msg.EventClientDisconnected))
	require.False(t, r.WantsEvent(msg.EventMessagePublished))
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r.HandleEvent(msg.Event{Kind: msg.EventClientConnected, ClientID: "lock-1", Node: "n1", Time: at})
	info, err := r.Info("lock-1")
	require.NoError(t, err)
	require.True(t, info.Connected)

	// A registry started over a store that holds a device wants them at once.
	again := New(Options{Store: st, BcryptCost: bcrypt.MinCost})
	require.True(t, again.WantsEvent(msg.EventClientConnected))
}

// OnDelete hears of each device deleted, and of nothing else.
func TestRegistry_onDelete(t *testing.T) {
	var deleted []string
	r := New(Options{Store: memstore.New(), BcryptCost: bcrypt.MinCost, OnDelete: func(id string) { deleted = append(deleted, id) }})
	_, err := r.Create(Spec{ID: "lock-1"})
	require.NoError(t, err)
	require.NoError(t, r.Delete("lock-1"))
	require.ErrorIs(t, r.Delete("lock-1"), ErrNotFound)
	require.Equal(t, []string{"lock-1"}, deleted)
}
