package users

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/storage/statefile"
)

// FileName is the store's file name in the data directory.
const FileName = "users.json"

// Sentinel errors.
var (
	// ErrNotFound is returned by Remove for an unknown user.
	ErrNotFound = errors.New("users: no such user")
	// ErrReadOnly is returned when changing a user defined in the config file.
	ErrReadOnly = errors.New("users: user is defined in the config file")
	// ErrInvalid is returned for an empty username or password, or a bad hash.
	ErrInvalid = errors.New("users: invalid user")
)

// User is one user. Its JSON form is the file's and the HTTP API's.
type User struct {
	// Username is the MQTT user name.
	Username string `json:"username"`
	// PasswordHash is the bcrypt hash of the password.
	PasswordHash string `json:"password_hash"`
	// Superuser skips authorization (ACL) checks.
	Superuser bool `json:"superuser,omitempty"`
	// ClientIDs are the client ids the user may connect with
	// (auth.ClientIDPatterns: "%u", "lock-*"); empty: Options.ClientIDs.
	ClientIDs auth.ClientIDPatterns `json:"client_ids,omitempty"`
	// Role is a web dashboard user's role (RoleViewer: read-only; empty:
	// administrator); MQTT users have none.
	Role string `json:"role,omitempty"`
}

// RoleViewer is the role of a dashboard user who may look but not change
// anything.
const RoleViewer = "viewer"

// Options configures a Store.
type Options struct {
	// Path is the JSON file ("" keeps users in memory only).
	Path string
	// Static users come from the config file; they cannot be changed
	// through the Store and take precedence over the file's.
	Static []User
	// Cost is the bcrypt cost of new hashes (0: bcrypt.DefaultCost).
	Cost int
	// CacheTTL is how long a successful check is remembered (0: 1 minute;
	// negative: never).
	CacheTTL time.Duration
	// MaxConcurrent bounds simultaneous bcrypt checks (0: GOMAXPROCS).
	MaxConcurrent int
	// ClientIDs are the client ids of users that have none of their own
	// (empty: any client id).
	ClientIDs auth.ClientIDPatterns
}

// usersKey and usersVersion describe the users file: {"version": 1,
// "users": [User, ...]} (files written before versions existed carry none
// and are read as version 1).
const (
	usersKey     = "users"
	usersVersion = 1
)

// Store is the user store; see the package documentation.
type Store struct {
	opts    Options
	checker *PasswordChecker
	static  map[string]User
	// dummy is a bcrypt hash of a random password at the store's cost:
	// EqualizeTiming compares against it, so an unknown username costs
	// what a wrong password does.
	dummy   []byte
	mu      sync.RWMutex
	file    map[string]User
	modTime time.Time
	checked time.Time
}

// Open loads the store from opts.Path (a missing file is an empty store).
func Open(opts Options) (*Store, error) {
	if opts.Cost == 0 {
		opts.Cost = bcrypt.DefaultCost
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = time.Minute
	}
	if err := opts.ClientIDs.Validate(); err != nil {
		return nil, fmt.Errorf("%w: client_ids: %w", ErrInvalid, err)
	}
	s := &Store{opts: opts, checker: NewPasswordChecker(opts.CacheTTL, opts.MaxConcurrent), static: map[string]User{},
		file: map[string]User{}}
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), opts.Cost)
	if err != nil {
		return nil, fmt.Errorf("users: dummy hash: %w", err)
	}
	s.dummy = dummy
	for _, u := range opts.Static {
		if err := checkUser(u); err != nil {
			return nil, err
		}
		s.static[u.Username] = u
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func checkUser(u User) error {
	if u.Username == "" {
		return fmt.Errorf("%w: empty username", ErrInvalid)
	}
	if err := u.ClientIDs.Validate(); err != nil {
		return fmt.Errorf("%w: user %q: client_ids: %w", ErrInvalid, u.Username, err)
	}
	if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
		return fmt.Errorf("%w: user %q: password_hash is not a bcrypt hash: %w", ErrInvalid, u.Username, err)
	}
	return nil
}

// load reads the file into s.file. Called without s.mu.
func (s *Store) load() error {
	if s.opts.Path == "" {
		return nil
	}
	st, err := os.Stat(s.opts.Path)
	if errors.Is(err, os.ErrNotExist) {
		s.mu.Lock()
		s.file, s.modTime = map[string]User{}, time.Time{}
		s.mu.Unlock()
		return nil
	}
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	data, err := os.ReadFile(s.opts.Path)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	list, err := statefile.Decode[User](data, usersKey, usersVersion, statefile.AcceptUnversioned)
	if err != nil {
		return fmt.Errorf("users: %s: %w", s.opts.Path, err)
	}
	m := make(map[string]User, len(list))
	for _, u := range list {
		if err := checkUser(u); err != nil {
			return fmt.Errorf("users: %s: %w", s.opts.Path, err)
		}
		m[u.Username] = u
	}
	s.mu.Lock()
	s.file, s.modTime = m, st.ModTime()
	s.mu.Unlock()
	s.checker.Forget()
	return nil
}

// refresh reloads the file when its modification time changed, checking at
// most once a second.
func (s *Store) refresh() {
	if s.opts.Path == "" {
		return
	}
	now := time.Now()
	s.mu.Lock()
	if now.Sub(s.checked) < time.Second {
		s.mu.Unlock()
		return
	}
	s.checked = now
	mod := s.modTime
	s.mu.Unlock()
	st, err := os.Stat(s.opts.Path)
	switch {
	case err == nil && st.ModTime().Equal(mod):
	case err != nil && mod.IsZero():
	default:
		_ = s.load() // a broken file keeps the users already loaded
	}
}

// Get returns the user called name (config users first), noticing a
// changed file as Authenticate does.
func (s *Store) Get(name string) (User, bool) {
	s.refresh()
	return s.lookup(name)
}

// lookup returns the user (config users first).
func (s *Store) lookup(name string) (User, bool) {
	if u, ok := s.static[name]; ok {
		return u, true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.file[name]
	return u, ok
}

// Authenticate implements auth.Authenticator: NoOpinion for a client
// without a username or with one the store does not know, Allow for the
// right password and a client id the user may use (its ClientIDs, else
// Options.ClientIDs; Deny with Client Identifier not valid otherwise),
// Deny (bad username or password) for a wrong password.
func (s *Store) Authenticate(ctx context.Context, ci *auth.ConnectInfo) auth.Result {
	if ci.Username == "" {
		return auth.Pass
	}
	s.refresh()
	u, ok := s.lookup(ci.Username)
	if !ok {
		return auth.Pass
	}
	if !s.checker.Check(ctx, u.Username, u.PasswordHash, ci.Password) {
		return auth.Denied(packet.BadUsernameOrPassword, "wrong password for user "+u.Username)
	}
	id := auth.NewIdentity(ci, "users")
	id.Superuser, id.Principal = u.Superuser, u.Username
	patterns := u.ClientIDs
	if len(patterns) == 0 {
		patterns = s.opts.ClientIDs
	}
	if r, ok := auth.CheckClientID(patterns, id, "users"); !ok {
		return r
	}
	return auth.Allowed(id)
}

// EqualizeTiming implements auth.TimingEqualizer: for a refused client
// with a username this store does not know, it runs the bcrypt compare a
// known username would have cost, against a dummy hash (bounded by
// MaxConcurrent like real checks). Without it, "unknown user" answers in
// microseconds and "wrong password" in tens of milliseconds, which lists
// the usernames to anyone who times the answers.
func (s *Store) EqualizeTiming(ctx context.Context, ci *auth.ConnectInfo) {
	if ci.Username == "" {
		return
	}
	_ = s.checker.Compare(ctx, s.dummy, ci.Password)
}

// Add creates or replaces a file user with a bcrypt hash of password
// (AddUser without client id patterns).
func (s *Store) Add(username, password string, superuser bool) error {
	return s.AddUser(username, password, superuser, nil)
}

// AddUser creates or replaces a file user with a bcrypt hash of password
// and the client ids it may use (nil: the store's default).
func (s *Store) AddUser(username, password string, superuser bool, clientIDs auth.ClientIDPatterns) error {
	return s.Put(User{Username: username, Superuser: superuser, ClientIDs: clientIDs}, password)
}

// Put creates or replaces the file user u with a bcrypt hash of password
// (u.PasswordHash is ignored).
func (s *Store) Put(u User, password string) error {
	if u.Username == "" || password == "" {
		return fmt.Errorf("%w: username and password must not be empty", ErrInvalid)
	}
	if err := u.ClientIDs.Validate(); err != nil {
		return fmt.Errorf("%w: client_ids: %w", ErrInvalid, err)
	}
	switch u.Role {
	case "", RoleViewer:
	default:
		return fmt.Errorf("%w: role %q: must be %q or empty", ErrInvalid, u.Role, RoleViewer)
	}
	if _, ok := s.static[u.Username]; ok {
		return fmt.Errorf("%w: %q", ErrReadOnly, u.Username)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.opts.Cost)
	if err != nil {
		return fmt.Errorf("users: hash: %w", err)
	}
	u.PasswordHash = string(hash)
	return s.update(func(m map[string]User) error {
		m[u.Username] = u
		return nil
	})
}

// Remove deletes a file user.
func (s *Store) Remove(username string) error {
	if _, ok := s.static[username]; ok {
		return fmt.Errorf("%w: %q", ErrReadOnly, username)
	}
	return s.update(func(m map[string]User) error {
		if _, ok := m[username]; !ok {
			return fmt.Errorf("%w: %q", ErrNotFound, username)
		}
		delete(m, username)
		return nil
	})
}

// update re-reads the file, applies fn and writes the file atomically.
func (s *Store) update(fn func(map[string]User) error) error {
	if err := s.load(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]User, len(s.file)+1)
	for k, v := range s.file {
		m[k] = v
	}
	if err := fn(m); err != nil {
		return err
	}
	if err := s.write(m); err != nil {
		return err
	}
	s.file = m
	s.checker.Forget()
	if st, err := os.Stat(s.opts.Path); err == nil {
		s.modTime = st.ModTime()
	}
	return nil
}

// List returns every user, config users first, each list sorted by name.
func (s *Store) List() []User {
	s.refresh()
	out := make([]User, 0, len(s.static))
	for _, u := range s.static {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b User) int { return cmp.Compare(a.Username, b.Username) })
	n := len(out)
	s.mu.RLock()
	for name, u := range s.file {
		if _, shadowed := s.static[name]; !shadowed {
			out = append(out, u)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out[n:], func(a, b User) int { return cmp.Compare(a.Username, b.Username) })
	return out
}

// IsStatic reports whether the user comes from the config file.
func (s *Store) IsStatic(username string) bool {
	_, ok := s.static[username]
	return ok
}

// write stores m in the file atomically: a temporary file in the same
// directory, synced, then renamed over the old one.
func (s *Store) write(m map[string]User) error {
	if s.opts.Path == "" {
		return nil
	}
	list := make([]User, 0, len(m))
	for _, u := range m {
		list = append(list, u)
	}
	slices.SortFunc(list, func(a, b User) int { return cmp.Compare(a.Username, b.Username) })
	f := statefile.File[User]{Path: s.opts.Path, Key: usersKey, Version: usersVersion}
	if err := f.Save(list); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	return nil
}

// HashPassword returns a bcrypt hash of password at cost (0: default), for
// users written into the config file.
func HashPassword(password string, cost int) (string, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("users: hash: %w", err)
	}
	return string(h), nil
}

var (
	_ auth.Authenticator   = (*Store)(nil)
	_ auth.TimingEqualizer = (*Store)(nil)
)
