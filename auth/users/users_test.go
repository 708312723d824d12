package users

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

func login(s *Store, user, pass string) auth.Result {
	return s.Authenticate(context.Background(), &auth.ConnectInfo{ClientID: "c", Username: user, Password: []byte(pass), RemoteAddr: "127.0.0.1:1"})
}

func TestStore_fileUsers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", FileName)
	s, err := Open(Options{Path: path, Cost: bcrypt.MinCost})
	require.NoError(t, err)
	require.NoError(t, s.Add("lock", "s3cret", false))
	require.NoError(t, s.Add("admin", "root", true))

	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotContains(t, string(data), "s3cret")

	tests := []struct {
		user, pass string
		decision   auth.Decision
		code       packet.ReasonCode
	}{
		{"lock", "s3cret", auth.Allow, 0},
		{"lock", "s3cret", auth.Allow, 0}, // from the cache
		{"lock", "wrong", auth.Deny, packet.BadUsernameOrPassword},
		{"nobody", "x", auth.NoOpinion, 0},
		{"", "", auth.NoOpinion, 0},
	}
	for _, tc := range tests {
		r := login(s, tc.user, tc.pass)
		require.Equal(t, tc.decision, r.Decision, "%s/%s", tc.user, tc.pass)
		require.Equal(t, tc.code, r.Code)
	}
	require.True(t, login(s, "admin", "root").Identity.Superuser)

	// A second store (the CLI) sees the file; removing a user is seen by
	// the first store once the file changed.
	cli, err := Open(Options{Path: path, Cost: bcrypt.MinCost})
	require.NoError(t, err)
	require.Len(t, cli.List(), 2)
	require.NoError(t, cli.Remove("lock"))
	require.ErrorIs(t, cli.Remove("lock"), ErrNotFound)
	s.mu.Lock()
	s.checked = time.Time{} // skip the once-a-second wait
	s.mu.Unlock()
	require.Equal(t, auth.NoOpinion, login(s, "lock", "s3cret").Decision)
}

func TestStore_static(t *testing.T) {
	hash, err := HashPassword("pw", bcrypt.MinCost)
	require.NoError(t, err)
	s, err := Open(Options{Static: []User{{Username: "cfg", PasswordHash: hash}}})
	require.NoError(t, err)
	require.Equal(t, auth.Allow, login(s, "cfg", "pw").Decision)
	require.ErrorIs(t, s.Add("cfg", "x", false), ErrReadOnly)
	require.ErrorIs(t, s.Remove("cfg"), ErrReadOnly)
	require.True(t, s.IsStatic("cfg"))
	_, err = Open(Options{Static: []User{{Username: "bad", PasswordHash: "plain"}}})
	require.ErrorIs(t, err, ErrInvalid)
}

// TestStore_storm: many concurrent logins of one user cost few bcrypt
// checks, and a wrong password is never admitted by the cache.
func TestStore_storm(t *testing.T) {
	s, err := Open(Options{Cost: bcrypt.MinCost, MaxConcurrent: 1})
	require.NoError(t, err)
	require.NoError(t, s.Add("lock", "pw", false))
	var wg sync.WaitGroup
	results := make([]auth.Decision, 200)
	for i := range results {
		wg.Go(func() {
			pass := "pw"
			if i%10 == 0 {
				pass = "bad"
			}
			results[i] = login(s, "lock", pass).Decision
		})
	}
	wg.Wait()
	for i, d := range results {
		want := auth.Allow
		if i%10 == 0 {
			want = auth.Deny
		}
		require.Equal(t, want, d, "login %d", i)
	}
}

// TestStore_unknownUserCostsAWrongPassword: a refused login with an unknown
// username runs one bcrypt compare (against the dummy hash), as a known
// username with a wrong password does, so that the answers' timing does not
// tell which usernames exist. A client a later authenticator allows costs
// no compare.
func TestStore_unknownUserCostsAWrongPassword(t *testing.T) {
	s, err := Open(Options{Cost: bcrypt.MinCost, CacheTTL: -1})
	require.NoError(t, err)
	require.NoError(t, s.Add("lock", "s3cret", false))
	var mu sync.Mutex
	var hashes [][]byte
	real := s.checker.compare
	s.checker.compare = func(hash, pw []byte) error {
		mu.Lock()
		hashes = append(hashes, hash)
		mu.Unlock()
		return real(hash, pw)
	}
	allowAll := allowAuthenticator{}
	ci := func(user string) *auth.ConnectInfo {
		return &auth.ConnectInfo{ClientID: "c", Username: user, Password: []byte("guess"), RemoteAddr: "192.0.2.1:1"}
	}
	tests := []struct {
		name     string
		chain    []auth.Authenticator
		user     string
		decision auth.Decision
		dummy    int // compares against the dummy hash
		real     int // compares against a user's hash
	}{
		{"known user, wrong password", []auth.Authenticator{s}, "lock", auth.Deny, 0, 1},
		{"unknown user, refused", []auth.Authenticator{s}, "nobody", auth.Deny, 1, 0},
		{"unknown user, allowed later", []auth.Authenticator{s, allowAll}, "nobody", auth.Allow, 0, 0},
		{"no username", []auth.Authenticator{s}, "", auth.Deny, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			hashes = nil
			mu.Unlock()
			chain := &auth.AuthnChain{Authenticators: tc.chain}
			require.Equal(t, tc.decision, chain.Authenticate(context.Background(), ci(tc.user)).Decision)
			mu.Lock()
			defer mu.Unlock()
			dummy := 0
			for _, h := range hashes {
				if string(h) == string(s.dummy) {
					dummy++
				}
			}
			require.Equal(t, tc.dummy, dummy, "compares against the dummy hash")
			require.Equal(t, tc.real, len(hashes)-dummy, "compares against a user's hash")
		})
	}
	cost, err := bcrypt.Cost(s.dummy)
	require.NoError(t, err)
	require.Equal(t, bcrypt.MinCost, cost, "the dummy hash costs what the store's hashes cost")
}

type allowAuthenticator struct{}

func (allowAuthenticator) Authenticate(_ context.Context, ci *auth.ConnectInfo) auth.Result {
	return auth.Allowed(auth.NewIdentity(ci, "test"))
}

// TestStore_clientIDs: a user may connect only with the client ids of its
// patterns, or of the store's default when it has none.
func TestStore_clientIDs(t *testing.T) {
	s, err := Open(Options{Cost: bcrypt.MinCost, ClientIDs: auth.ClientIDPatterns{"%u"}})
	require.NoError(t, err)
	require.NoError(t, s.AddUser("backend", "pw", false, auth.ClientIDPatterns{"backend-*"}))
	require.NoError(t, s.Add("lock-a", "pw", false))
	require.ErrorIs(t, s.AddUser("x", "pw", false, auth.ClientIDPatterns{"%q"}), ErrInvalid)
	tests := []struct {
		user, clientID string
		decision       auth.Decision
		code           packet.ReasonCode
	}{
		{"lock-a", "lock-a", auth.Allow, 0},
		{"lock-a", "lock-b", auth.Deny, packet.ClientIdentifierNotValid},
		{"backend", "backend-1", auth.Allow, 0},
		{"backend", "backend", auth.Deny, packet.ClientIdentifierNotValid},
	}
	for _, tc := range tests {
		r := s.Authenticate(context.Background(), &auth.ConnectInfo{ClientID: tc.clientID, Username: tc.user, Password: []byte("pw")})
		require.Equal(t, tc.decision, r.Decision, "%s as %s: %s", tc.user, tc.clientID, r.Reason)
		require.Equal(t, tc.code, r.Code)
		if r.Decision == auth.Allow {
			require.Equal(t, "users/user:"+tc.user, r.Identity.Owner())
		}
	}
	require.Equal(t, auth.ClientIDPatterns{"backend-*"}, s.List()[0].ClientIDs)
}

// Put keeps a dashboard user's role, which a second store on the same file
// reads; a role other than viewer is refused.
func TestStore_putRole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dashboard_users.json")
	s, err := Open(Options{Path: path, Cost: bcrypt.MinCost})
	require.NoError(t, err)
	require.NoError(t, s.Put(User{Username: "eve", Role: RoleViewer, PasswordHash: "ignored"}, "look"))
	require.ErrorIs(t, s.Put(User{Username: "mallory", Role: "root"}, "x"), ErrInvalid)

	other, err := Open(Options{Path: path, Cost: bcrypt.MinCost})
	require.NoError(t, err)
	u, ok := other.Get("eve")
	require.True(t, ok)
	require.Equal(t, RoleViewer, u.Role)
	require.Equal(t, auth.Allow, login(other, "eve", "look").Decision)
	_, ok = other.Get("mallory")
	require.False(t, ok)
}
