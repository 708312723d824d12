package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/auth/users"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/api"
	"github.com/iothub-dev/iothub/internal/dashboard"
)

// OperatorsFile is the dashboard users' file in the data directory: the
// operators who sign in to the web dashboard (not MQTT users).
const OperatorsFile = "dashboard_users.json"

// openOperators opens the dashboard users' store; new hashes (and the
// dummy one that unknown names are checked against) have the cost of
// auth.users.bcrypt_cost.
func openOperators(dataDir string, cost int) (*users.Store, error) {
	s, err := users.Open(users.Options{Path: filepath.Join(dataDir, OperatorsFile), Cost: cost})
	if err != nil {
		return nil, fmt.Errorf("dashboard users: %w", err)
	}
	return s, nil
}

// operators adapts a users.Store to api.Operators.
type operators struct{ s *users.Store }

// Check implements api.Operators.
func (o operators) Check(ctx context.Context, username, password string) bool {
	r := o.s.Authenticate(ctx, &auth.ConnectInfo{Username: username, Password: []byte(password)})
	return r.Decision == auth.Allow
}

// Role implements api.Operators.
func (o operators) Role(username string) (string, bool) {
	u, ok := o.s.Get(username)
	return u.Role, ok
}

// ListOperators implements api.OperatorAdmin.
func (o operators) ListOperators() []api.Operator {
	list := o.s.List()
	out := make([]api.Operator, len(list))
	for i, u := range list {
		out[i] = api.Operator{Username: u.Username, Role: u.Role}
	}
	return out
}

// PutOperator implements api.OperatorAdmin.
func (o operators) PutOperator(username, password, role string) error {
	return o.s.Put(users.User{Username: username, Role: role}, password)
}

// RemoveOperator implements api.OperatorAdmin.
func (o operators) RemoveOperator(username string) error { return o.s.Remove(username) }

// setupDashboard opens the dashboard users (when api.dashboard is on) and
// serves the dashboard's files at /.
func (a *App) setupDashboard() (api.Operators, error) {
	if !a.cfg.API.Dashboard {
		return nil, nil
	}
	s, err := openOperators(a.cfg.DataDir, a.cfg.Auth.Users.BcryptCost)
	if err != nil {
		return nil, err
	}
	a.api.operators = s
	h := dashboard.Handler()
	a.mux.Handle("GET /{$}", h)
	a.mux.Handle("GET /ui/{file...}", h)
	return operators{s}, nil
}

// ensureOperator creates the first dashboard user, "admin" with a random
// password printed once at WARN, when the users' file does not exist:
// there is no default password.
func (a *App) ensureOperator() error {
	s := a.api.operators
	if s == nil {
		return nil
	}
	path := filepath.Join(a.cfg.DataDir, OperatorsFile)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		if len(s.List()) == 0 {
			a.log.Warn("the dashboard has no user: nobody can sign in; add one with `iothub users add --dashboard NAME`", "file", path)
		}
		return nil
	}
	var b [18]byte
	_, _ = rand.Read(b[:])
	password := base64.RawURLEncoding.EncodeToString(b[:])
	if err := s.Add("admin", password, false); err != nil {
		return fmt.Errorf("creating the first dashboard user: %w", err)
	}
	a.log.Warn("created the first dashboard user, admin; its password is shown only this once, store it now (sign in at "+localAPIURL(a.cfg.API)+"; manage users with `iothub users --dashboard`)",
		"username", "admin", "password", password, "file", path)
	return nil
}

// localAPIURL is where a browser or device on this machine finds the API
// (and the dashboard): a wildcard or empty host means localhost.
func localAPIURL(api config.API) string {
	scheme := "http"
	if api.TLSCertFile != "" {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(api.Address)
	if err != nil {
		return scheme + "://" + api.Address + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}
